"""The OpenAPI 3.1 document served at ``/openapi.json``, built from the route table below."""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"

# (method, path, tag, summary, request schema or None, success schema or None, auth)
_ROUTES: list[tuple[str, str, str, str, str | None, str | None, bool]] = [
    ("get", "/v2/health/live", "oip", "Server liveness", None, "Live", False),
    ("get", "/v2/health/ready", "oip", "Server readiness (503 while draining)", None, "Ready", False),
    ("get", "/v2", "oip", "Server metadata", None, "ServerMetadata", False),
    ("get", "/v2/models", "oip", "Served endpoints and models", None, "ModelList", False),
    ("get", "/v2/models/{name}", "oip", "Model metadata", None, "ModelMetadata", False),
    ("get", "/v2/models/{name}/versions/{version}", "oip", "Model version metadata", None,
     "ModelMetadata", False),
    ("get", "/v2/models/{name}/ready", "oip", "Model readiness", None, "ModelReady", False),
    ("get", "/v2/models/{name}/versions/{version}/ready", "oip", "Model version readiness",
     None, "ModelReady", False),
    ("post", "/v2/models/{name}/infer", "oip", "Inference (JSON or binary tensor extension)",
     "InferenceRequest", "InferenceResponse", False),
    ("post", "/v2/models/{name}/versions/{version}/infer", "oip",
     "Inference on a pinned model version", "InferenceRequest", "InferenceResponse", False),
    ("post", "/v2/repository/index", "management", "Repository index (Triton)", None, None, True),
    ("post", "/v2/repository/models/{name}/load", "management", "Load a model by reference",
     "RepositoryLoad", None, True),
    ("post", "/v2/repository/models/{name}/unload", "management", "Unload a model", "RepositoryLoad",
     None, True),
    ("get", "/ping", "mlflow", "MLflow health", None, None, False),
    ("get", "/health", "mlflow", "MLflow health", None, None, False),
    ("get", "/version", "mlflow", "Server version (text)", None, None, False),
    ("post", "/invocations", "mlflow", "MLflow scoring on the default endpoint (JSON or CSV)",
     "MlflowRequest", "MlflowResponse", False),
    ("post", "/endpoints/{name}/invocations", "mlflow", "MLflow scoring on a named endpoint",
     "MlflowRequest", "MlflowResponse", False),
    ("post", "/endpoints/{name}/outcomes", "feedback",
     "Record outcomes (label, conversion, revenue) of a served prediction", "Outcome", None,
     False),
    ("get", "/management/models", "management", "Loaded model versions", None, None, True),
    ("post", "/management/models", "management", "Load a version by registry reference",
     "LoadSpec", None, True),
    ("delete", "/management/models/{name}/versions/{version}", "management",
     "Unload a version (refused while an endpoint routes to it)", None, None, True),
    ("get", "/management/endpoints", "management", "Endpoint routing table", None, None, True),
    ("put", "/management/endpoints/{endpoint}", "management",
     "Route an endpoint (hot swap)", "EndpointSpec", None, True),
    ("delete", "/management/endpoints/{endpoint}", "management", "Remove an endpoint", None,
     None, True),
    ("get", "/metrics", "operations", "Prometheus metrics", None, None, False),
    ("get", "/openapi.json", "operations", "This document", None, None, False),
]  # fmt: skip

_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ]
        },
        "shape": {"type": "array", "items": {"type": "integer"}},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "MlflowError": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    },
    "Live": {"type": "object", "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    "ServerMetadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ModelList": {"type": "object", "properties": {"models": {"type": "array"}}},
    "ModelMetadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR},
            "outputs": {"type": "array", "items": _TENSOR},
        },
    },
    "ModelReady": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": _TENSOR},
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "InferenceResponse": {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": _TENSOR},
        },
    },
    "MlflowRequest": {
        "type": "object",
        "description": "exactly one of the four formats, plus optional params",
        "properties": {
            "dataframe_split": {"type": "object"},
            "dataframe_records": {"type": "array"},
            "instances": {"type": "array"},
            "inputs": {},
            "params": {"type": "object"},
        },
    },
    "MlflowResponse": {"type": "object", "properties": {"predictions": {}}},
    "LoadSpec": {
        "type": "object",
        "required": ["reference"],
        "properties": {"reference": {"type": "string", "example": "housing@champion"}},
    },
    "EndpointSpec": {
        "type": "object",
        "description": "single {model}; canary {stable, canary, weight, key, segment, rollout}; "
        "ab {variants: [{name, model, weight}], key}; shadow {primary, shadows: "
        "[{model, percent}]}; blue_green {blue, green, active}",
        "required": ["strategy"],
        "properties": {
            "strategy": {"enum": ["single", "canary", "ab", "shadow", "blue_green"]},
            "model": {"type": "string", "example": "housing:3"},
        },
    },
    "Outcome": {
        "type": "object",
        "description": "one of request_id or key; outcomes {kind: value} or kind and value",
        "properties": {
            "request_id": {"type": "string"},
            "key": {"type": "string"},
            "outcomes": {"type": "object", "additionalProperties": {"type": "number"}},
            "kind": {"type": "string"},
            "value": {"type": "number"},
        },
    },
    "RepositoryLoad": {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "properties": {"version": {"type": "string"}, "alias": {"type": "string"}},
            }
        },
    },
}


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document for this server's routes."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, tag, summary, request, success, auth in _ROUTES:
        error = "MlflowError" if tag == "mlflow" else "Error"
        operation: dict[str, Any] = {
            "tags": [tag],
            "summary": summary,
            "responses": {
                "200": _content(success) if success else {"description": "OK"},
                "4XX": _content(error),
                "5XX": _content(error),
            },
        }
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if request:
            operation["requestBody"] = {
                "required": request not in ("RepositoryLoad",),
                "content": {"application/json": {"schema": {"$ref": _REF + request}}},
            }
        if auth:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard model server", "version": version},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _content(schema: str) -> dict[str, Any]:
    return {
        "description": schema,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }

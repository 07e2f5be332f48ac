"""A step's fingerprint: the hash of its code, its parameters and its inputs' contents.

Inputs enter by the digest of their stored bytes, not by the run that made them, so a
step downstream of a recomputed but unchanged output is still a cache hit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from shipyard.pipeline.step import Step

FORMAT = 1  # bump to invalidate every cache entry when the fingerprint recipe changes


def fingerprint(step: Step[..., Any], params: Mapping[str, Any], inputs: Mapping[str, Any]) -> str:
    """sha256 over the step's code hash and version, parameters and input digests.

    Args:
        step: the step.
        params: its JSON parameters (after configuration overrides).
        inputs: argument name -> digest, or a list of digests; constants passed to
            the step enter here too, by the digest of their stored bytes.
    """
    payload = {
        "format": FORMAT,
        "step": step.name,
        "code": step.code_hash,
        "version": step.version,
        "params": params,
        "inputs": inputs,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_refuse)
    return hashlib.sha256(text.encode()).hexdigest()


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON parameter")

-- hgb, one row
-- Open Inference Protocol v2 JSON (Shipyard and the bare FastAPI floor): POST /v2/models/{name}/infer
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{"inputs":[{"name":"sqft","shape":[1],"datatype":"FP64","data":[1500.0]},{"name":"bedrooms","shape":[1],"datatype":"INT64","data":[3]},{"name":"bathrooms","shape":[1],"datatype":"INT64","data":[2]},{"name":"age","shape":[1],"datatype":"INT64","data":[20]},{"name":"lot_size","shape":[1],"datatype":"FP64","data":[5000.0]},{"name":"condition","shape":[1],"datatype":"INT64","data":[3]}]}]==]

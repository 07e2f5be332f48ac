-- hgb, one row
-- BentoML: a pandas.DataFrame argument as JSON records: POST /predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{"data":[{"sqft":1500.0,"bedrooms":3,"bathrooms":2,"age":20,"lot_size":5000.0,"condition":3}]}]==]

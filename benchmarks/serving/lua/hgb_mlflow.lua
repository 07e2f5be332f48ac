-- hgb, one row
-- MLflow scoring server JSON: POST /invocations
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{"dataframe_split":{"columns":["sqft","bedrooms","bathrooms","age","lot_size","condition"],"data":[[1500.0,3,2,20,5000.0,3]]}}]==]

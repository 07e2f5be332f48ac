"""The minimal BentoML service of the serving benchmark: one model from the store, one route.

    BENTOML_HOME=WORKDIR/bentoml BENCH_BENTO_MODEL=hgb:latest \\
        bentoml serve bento_service:Model --host 127.0.0.1 --port 3000

``POST /predict`` with ``{"data": [{feature: value, ...}]}``: BentoML's own JSON form of
a ``pandas.DataFrame`` argument (records), handed to the scikit-learn model as it is.
A sync API, as BentoML's examples write them (BentoML runs it in its thread pool).
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
import pandas as pd


@bentoml.service(workers=1)
class Model:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(os.environ["BENCH_BENTO_MODEL"])

    @bentoml.api
    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return self.model.predict(data)

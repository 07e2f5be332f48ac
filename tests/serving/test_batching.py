"""Batching: concurrent requests share a model call; one slow or failing model stalls nothing else."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import numpy as np
import orjson
import pytest
from starlette.applications import Starlette

from shipyard.config import ServingSpec
from shipyard.serving import InMemorySource, create_app
from shipyard.serving.batching import Batcher
from shipyard.serving.errors import ModelNotReady, Overloaded, PredictionFailed

from .serving_models import Recording, fragile_model, housing_expected, housing_model

FEATURES = ("rooms", "area", "age")


def housing_columns(rows: np.ndarray) -> dict[str, np.ndarray]:
    return {n: rows[:, j].astype(np.float32) for j, n in enumerate(FEATURES)}


def oip_body(row: np.ndarray) -> bytes:
    return orjson.dumps(
        {
            "inputs": [
                {"name": n, "shape": [1], "datatype": "FP32", "data": [float(v)]}
                for n, v in zip(FEATURES, row, strict=True)
            ]
        }
    )


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def test_concurrent_single_rows_are_predicted_together() -> None:
    model = Recording(housing_model(1.0), delay_s=0.02)
    batcher = Batcher(model.predict, label="housing:1", max_batch_size=64, max_wait_s=0.002)
    rows = np.random.default_rng(3).uniform(1, 9, (40, 3)).astype(np.float32)

    async def main() -> list[dict[str, np.ndarray]]:
        results = await asyncio.gather(
            *(batcher.predict(housing_columns(rows[i : i + 1]), 1, 5.0) for i in range(len(rows)))
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert sum(model.calls) == 40
    assert len(model.calls) < 10 and max(model.calls) > 1, model.calls
    got = np.concatenate([r["prediction"] for r in results])
    np.testing.assert_allclose(got, housing_expected(housing_model(1.0), rows), rtol=1e-6)


def test_a_lone_request_is_not_held_back_waiting_for_a_batch() -> None:
    model = Recording(housing_model(1.0))
    batcher = Batcher(model.predict, label="housing:1", max_batch_size=64, max_wait_s=5.0)

    async def main() -> float:
        started = time.perf_counter()
        await batcher.predict(housing_columns(np.ones((1, 3))), 1, 5.0)
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 1.0  # far below max_wait_s
    assert model.calls == [1]


def test_batches_never_exceed_max_batch_size() -> None:
    model = Recording(housing_model(1.0), delay_s=0.01)
    batcher = Batcher(model.predict, label="housing:1", max_batch_size=64, max_wait_s=0.005)
    rows = np.ones((30, 3), dtype=np.float32)

    async def main() -> None:
        await asyncio.gather(*(batcher.predict(housing_columns(rows), 30, 5.0) for _ in range(10)))
        big = np.ones((100, 3), dtype=np.float32)  # bigger than a batch: goes alone
        await batcher.predict(housing_columns(big), 100, 5.0)
        await batcher.close()

    asyncio.run(main())
    assert sum(model.calls) == 400
    assert all(c <= 64 for c in model.calls[:-1]) and model.calls[-1] == 100, model.calls


def test_a_failing_request_fails_alone_in_its_batch() -> None:
    model = Recording(fragile_model(), delay_s=0.02)
    batcher = Batcher(model.predict, label="fragile:1", max_batch_size=64, max_wait_s=0.002)
    values = [1.0, 2.0, np.nan, 4.0, 5.0]

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(batcher.predict({"x": np.array([v])}, 1, 5.0) for v in values),
            return_exceptions=True,
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert isinstance(results[2], PredictionFailed)
    for value, result in zip(values, results, strict=True):
        if not np.isnan(value):
            assert isinstance(result, dict)
            assert result["y"][0] == pytest.approx(2 * value + 1)


def test_queue_past_its_limit_is_refused_as_overloaded() -> None:
    model = Recording(housing_model(1.0), delay_s=0.2)
    batcher = Batcher(model.predict, label="housing:1", max_batch_size=4, max_queue_rows=8)
    one = housing_columns(np.ones((1, 3)))

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(batcher.predict(one, 1, 5.0) for _ in range(12)), return_exceptions=True
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(refused) == 4
    assert all(isinstance(r, dict) for r in results if r not in refused)


def test_close_lets_queued_requests_finish() -> None:
    model = Recording(housing_model(1.0), delay_s=0.05)
    batcher = Batcher(model.predict, label="housing:1", max_batch_size=2)
    one = housing_columns(np.ones((1, 3)))

    async def main() -> list[dict[str, np.ndarray]]:
        pending = [asyncio.ensure_future(batcher.predict(one, 1, 5.0)) for _ in range(6)]
        await asyncio.sleep(0.01)
        await batcher.close()
        return await asyncio.gather(*pending)

    assert len(asyncio.run(main())) == 6
    assert sum(model.calls) == 6


def test_concurrent_http_requests_are_batched_and_counted_in_metrics() -> None:
    model = Recording(housing_model(1.0), delay_s=0.02)
    app = create_app(
        InMemorySource({"housing": {1: model}}),
        spec=ServingSpec(max_batch_size=64, max_wait_ms=2),
        endpoints={"housing": "housing:1"},
    )
    rows = np.random.default_rng(5).uniform(1, 9, (24, 3))

    async def main() -> tuple[list[httpx.Response], str]:
        async with running(app) as client:
            responses = await asyncio.gather(
                *(client.post("/v2/models/housing/infer", content=oip_body(r)) for r in rows)
            )
            return list(responses), (await client.get("/metrics")).text

    responses, metrics = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 24
    got = [r.json()["outputs"][0]["data"][0] for r in responses]
    np.testing.assert_allclose(got, housing_expected(housing_model(1.0), rows), rtol=1e-6)
    assert len(model.calls) < 24 and max(model.calls) > 1, model.calls
    assert (
        f'shipyard_inference_batch_size_count{{model_version="housing:1"}} {len(model.calls)}.0'
        in metrics
    )
    assert 'shipyard_inference_batch_size_sum{model_version="housing:1"} 24.0' in metrics


def test_a_slow_model_times_out_without_stalling_another() -> None:
    slow = Recording(housing_model(1.0), delay_s=1.5)
    app = create_app(
        InMemorySource({"slow": {1: slow}, "housing": {1: housing_model(1.0)}}),
        spec=ServingSpec(request_timeout_s=0.4),
        endpoints={"slow": "slow:1", "housing": "housing:1"},
    )
    body = oip_body(np.array([3.0, 100.0, 5.0]))
    mlflow = {"inputs": {"rooms": [3.0], "area": [100.0], "age": [5.0]}}

    async def main() -> tuple[httpx.Response, httpx.Response, list[float]]:
        async with running(app) as client:
            stuck = asyncio.ensure_future(client.post("/v2/models/slow/infer", content=body))
            stuck_mlflow = asyncio.ensure_future(
                client.post("/endpoints/slow/invocations", json=mlflow)
            )
            await asyncio.sleep(0.05)  # the slow model is now busy in its thread
            took = []
            for _ in range(20):
                started = time.perf_counter()
                ok = await client.post("/v2/models/housing/infer", content=body)
                took.append(time.perf_counter() - started)
                assert ok.status_code == 200
            return await stuck, await stuck_mlflow, took

    stuck, stuck_mlflow, took = asyncio.run(main())
    assert stuck.status_code == 504
    assert stuck.json() == {
        "error": "model slow:1 did not answer within 0.4 s. retry later, or raise "
        "serving.request_timeout_s"
    }
    assert stuck_mlflow.status_code == 504
    assert stuck_mlflow.json()["error_code"] == "DEADLINE_EXCEEDED"
    assert max(took) < 0.5, took  # served while the slow model was stuck (1.5 s)


# --- inline prediction: a fast model on an idle batcher runs on the event loop ---------

WARMUP = 8  # calls a model makes in its thread before it may run inline


def test_a_fast_model_runs_on_the_event_loop_when_nothing_is_queued() -> None:
    model = Recording(housing_model(1.0))
    observed: list[tuple[int, int]] = []
    batcher = Batcher(
        model.predict,
        label="housing:1",
        inline_below_s=1.0,  # any real model call is "fast" here
        observe=lambda rows, waits: observed.append((rows, len(waits))),
    )
    rows = np.random.default_rng(7).uniform(1, 9, (20, 3)).astype(np.float32)

    async def main() -> tuple[str, list[dict[str, np.ndarray]]]:
        results = [
            await batcher.predict(housing_columns(rows[i : i + 1]), 1, 5.0) for i in range(20)
        ]
        await batcher.close()
        return threading.current_thread().name, results

    loop_thread, results = asyncio.run(main())
    assert model.threads[:WARMUP] == ["predict-housing:1"] * WARMUP
    assert model.threads[WARMUP:] == [loop_thread] * (20 - WARMUP)
    assert observed == [(1, 1)] * 20  # batch metrics still see every request
    got = np.concatenate([r["prediction"] for r in results])
    np.testing.assert_allclose(got, housing_expected(housing_model(1.0), rows), rtol=1e-6)


def test_a_slow_model_never_runs_on_the_event_loop() -> None:
    model = Recording(housing_model(1.0), delay_s=0.01)  # 10 ms: far above the 200 µs bound
    batcher = Batcher(model.predict, label="slow:1")
    one = housing_columns(np.ones((1, 3), dtype=np.float32))

    async def main() -> None:
        for _ in range(WARMUP + 6):
            await batcher.predict(one, 1, 5.0)
        await batcher.close()

    asyncio.run(main())
    assert model.threads == ["predict-slow:1"] * (WARMUP + 6)


def test_a_model_that_turns_slow_goes_back_to_its_thread() -> None:
    model = Recording(housing_model(1.0))
    batcher = Batcher(model.predict, label="housing:1", inline_below_s=0.005)
    one = housing_columns(np.ones((1, 3), dtype=np.float32))

    async def main() -> str:
        for _ in range(WARMUP + 2):
            await batcher.predict(one, 1, 5.0)
        model.delay_s = 0.05  # one 50 ms call lifts the average past the 5 ms bound
        for _ in range(3):
            await batcher.predict(one, 1, 5.0)
        await batcher.close()
        return threading.current_thread().name

    loop_thread = asyncio.run(main())
    # the slow call itself ran inline (the average was low); every call after it did not
    assert model.threads[WARMUP : WARMUP + 3] == [loop_thread] * 3
    assert model.threads[WARMUP + 3 :] == ["predict-housing:1"] * 2


def test_concurrent_requests_to_a_fast_model_are_still_batched() -> None:
    model = Recording(housing_model(1.0))
    batcher = Batcher(model.predict, label="housing:1", inline_below_s=1.0)
    rows = np.random.default_rng(9).uniform(1, 9, (16, 3)).astype(np.float32)

    async def main() -> list[dict[str, np.ndarray]]:
        for i in range(WARMUP + 2):  # warmed up: a lone request now runs inline
            await batcher.predict(housing_columns(rows[i : i + 1]), 1, 5.0)
        results = await asyncio.gather(
            *(batcher.predict(housing_columns(rows[i : i + 1]), 1, 5.0) for i in range(16))
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    burst_calls = model.calls[WARMUP + 2 :]
    burst_threads = model.threads[WARMUP + 2 :]
    assert sum(burst_calls) == 16
    assert len(burst_calls) < 16 and max(burst_calls) > 1, burst_calls
    assert set(burst_threads) == {"predict-housing:1"}
    got = np.concatenate([r["prediction"] for r in results])
    np.testing.assert_allclose(got, housing_expected(housing_model(1.0), rows), rtol=1e-6)


def test_an_inline_failure_fails_only_its_own_request() -> None:
    def predict(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = columns["x"]
        if np.isnan(x).any():
            raise ValueError("NaN in x")
        return {"y": 2 * x + 1}

    batcher = Batcher(predict, label="fragile:1", inline_below_s=1.0)

    async def main() -> list[object]:
        out: list[object] = []
        for value in [1.0] * WARMUP + [2.0, np.nan, 4.0]:
            try:
                out.append(await batcher.predict({"x": np.array([value])}, 1, 5.0))
            except PredictionFailed as exc:
                out.append(exc)
        await batcher.close()
        return out

    results = asyncio.run(main())[WARMUP:]
    assert results[0]["y"][0] == 5.0  # type: ignore[index]
    assert isinstance(results[1], PredictionFailed)
    assert results[2]["y"][0] == 9.0  # type: ignore[index]


def test_a_closed_batcher_refuses_requests_it_could_run_inline() -> None:
    model = Recording(housing_model(1.0))
    batcher = Batcher(model.predict, label="housing:1", inline_below_s=1.0)
    one = housing_columns(np.ones((1, 3), dtype=np.float32))

    async def main() -> None:
        for _ in range(WARMUP + 1):
            await batcher.predict(one, 1, 5.0)
        await batcher.close()
        with pytest.raises(ModelNotReady):
            await batcher.predict(one, 1, 5.0)

    asyncio.run(main())
    assert len(model.calls) == WARMUP + 1

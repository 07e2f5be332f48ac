"""Adaptive batching: concurrent requests for one model version predicted together.

Each model version has its own queue and prediction thread, so a slow or failing model
never holds up another. The thread never waits on an idle server: it takes whatever
queued while the previous batch ran (one request alone goes at once), and only when
several requests are already queued does it wait up to ``max_wait_s`` for the batch to
fill. Concatenation, prediction and splitting all run in that thread; the event loop
only enqueues and, once per batch, receives the results (one cross-thread wake-up
each way, the least a thread hop costs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from shipyard.serving.errors import InferenceTimeout, ModelNotReady, Overloaded, PredictionFailed

logger = logging.getLogger("shipyard.serving")

Columns = Mapping[str, np.ndarray]
PredictFn = Callable[[Columns], dict[str, np.ndarray]]
BatchObserver = Callable[[int, list[float]], None]  # (rows in batch, seconds each item queued)
Result = dict[str, np.ndarray] | BaseException
_STOP = None  # put on the queue to end the thread once what is before it is done


@dataclass(slots=True)
class _Item:
    columns: Columns
    rows: int
    future: asyncio.Future[dict[str, np.ndarray]]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Queues requests for one model version and predicts them in batches in its own thread.

    Args:
        predict: the model's ``predict``; called only from the batcher's thread.
        label: names the model version in errors and the thread name, e.g. ``housing:3``.
        max_batch_size: most rows predicted in one call (one bigger request goes alone).
        max_wait_s: how long a batch already holding several requests waits to fill.
        max_queue_rows: rows allowed to wait; past it requests get ``Overloaded``.
        observe: called on the event loop after each batch with its size and waits.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        label: str,
        max_batch_size: int = 64,
        max_wait_s: float = 0.002,
        max_queue_rows: int = 100_000,
        observe: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.label = label
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self._observe = observe
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._queued_rows = 0  # changed on the event loop only
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    async def predict(self, columns: Columns, rows: int, timeout_s: float) -> dict[str, np.ndarray]:
        """Predict ``rows`` rows, batched with whatever else is queued.

        Raises:
            InferenceTimeout: not answered within ``timeout_s`` (queue time included).
            Overloaded: the queue already holds ``max_queue_rows`` rows.
            ModelNotReady: the batcher is closing (the version is being unloaded).
            PredictionFailed: the model raised on this request's rows.
        """
        if self._closing:
            raise ModelNotReady(self.label, "it is being unloaded")
        if self._queued_rows and self._queued_rows + rows > self.max_queue_rows:
            raise Overloaded(self.label, self._queued_rows)
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start(loop)
        future: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()
        self._queued_rows += rows
        self._queue.put(_Item(columns, rows, future))
        timer = loop.call_later(timeout_s, self._expire, future, timeout_s)
        try:
            return await future
        finally:
            timer.cancel()

    async def close(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued, then stop; requests still waiting after ``timeout_s`` fail."""
        if self._closing:
            return
        self._closing = True
        if self._thread is None or self._stopped is None:
            return
        self._queue.put(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(self._stopped), timeout_s)
        except TimeoutError:
            # the thread is stuck in the model; leave it (daemon) and fail the waiters
            logger.warning(
                "model %s did not finish within %g s of unloading", self.label, timeout_s
            )
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None and not item.future.done():
                    item.future.set_exception(ModelNotReady(self.label, "it was unloaded"))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._work, name=f"predict-{self.label}", daemon=True
        )
        self._thread.start()

    def _expire(self, future: asyncio.Future[dict[str, np.ndarray]], timeout_s: float) -> None:
        if not future.done():
            future.set_exception(InferenceTimeout(self.label, timeout_s))

    # --- in the batcher's thread -------------------------------------------------------

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        pending: _Item | None = None  # taken from the queue but too big for the last batch
        try:
            while True:
                first = pending if pending is not None else self._queue.get()
                pending = None
                if first is None:
                    return
                taken, pending, stop = self._collect(first)
                # futures are only read here; a stale answer costs one wasted prediction
                batch = [item for item in taken if not item.future.done()]
                dropped = sum(item.rows for item in taken) - sum(item.rows for item in batch)
                started = time.perf_counter()
                results = self._predict_batch(batch) if batch else []
                loop.call_soon_threadsafe(self._deliver, batch, results, started, dropped)
                if stop:
                    return
        except RuntimeError:  # the event loop was closed under us (interpreter exit)
            return
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._finish)

    def _collect(self, first: _Item) -> tuple[list[_Item], _Item | None, bool]:
        """Take queued items up to ``max_batch_size`` rows; wait to fill only under load."""
        batch = [first]
        rows = first.rows
        deadline = first.enqueued + self.max_wait_s
        while rows < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if len(batch) == 1 or remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, None, True
            if rows + item.rows > self.max_batch_size:
                return batch, item, False
            batch.append(item)
            rows += item.rows
        return batch, None, False

    def _predict_batch(self, batch: list[_Item]) -> list[Result]:
        """One call for the batch; on failure each request alone, so a bad one fails only itself."""
        if len(batch) == 1:
            return [self._predict_one(batch[0].columns, batch[0].rows)]
        rows = [item.rows for item in batch]
        names = list(batch[0].columns)
        merged = {n: np.concatenate([item.columns[n] for item in batch]) for n in names}
        result = self._predict_one(merged, sum(rows))
        if isinstance(result, BaseException):
            return [self._predict_one(item.columns, item.rows) for item in batch]
        bounds = np.cumsum([0, *rows]).tolist()
        return [
            {name: out[bounds[i] : bounds[i + 1]] for name, out in result.items()}
            for i in range(len(batch))
        ]

    def _predict_one(self, columns: Columns, rows: int) -> Result:
        try:
            outputs = self._predict(columns)
            for name, out in outputs.items():
                if np.ndim(out) == 0 or len(out) != rows:
                    raise ValueError(f"output '{name}' has shape {np.shape(out)} for {rows} rows")
            return outputs
        except Exception as exc:
            return exc

    # --- back on the event loop --------------------------------------------------------

    def _deliver(
        self, batch: list[_Item], results: list[Result], started: float, dropped: int
    ) -> None:
        self._queued_rows -= dropped
        for item, result in zip(batch, results, strict=True):
            self._queued_rows -= item.rows
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(PredictionFailed(self.label, result))
            else:
                item.future.set_result(result)
        if batch and self._observe is not None:
            self._observe(sum(i.rows for i in batch), [started - i.enqueued for i in batch])

    def _finish(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

"""Adaptive batching: concurrent requests for one model version predicted together.

Each model version has its own queue and prediction thread, so a slow or failing model
never holds up another. The thread never waits on an idle server: it takes whatever
queued while the previous batch ran (one request alone goes at once), and only when
several requests are already queued does it wait up to ``max_wait_s`` for the batch to
fill. Concatenation, prediction and splitting all run in that thread; the event loop
only enqueues and, once per batch, receives the results (one cross-thread wake-up
each way, the least a thread hop costs).

A fast model on an idle batcher skips the thread: when nothing is queued or in flight
and the version's recent calls took under ``inline_below_s``, the request is predicted
on the event loop itself, because the two thread hops cost more than such a prediction
(about 0.1 ms against 15-25 µs for an ONNX tree on one row). A model not yet measured,
or slower than the bound, always goes to its thread, so the loop never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
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
# Calls timed before a model may run on the event loop: first calls are often slow
# (lazy initialisation, cold caches) and say little about the steady state.
_WARMUP_CALLS = 8
_EMA_WEIGHT = 0.125  # weight of the newest call in the moving average of call time
# Only small requests run inline, and only small calls feed the average that admits them:
# a 32-row batch says nothing about one row, and a 10,000-row request must not hold the loop.
_INLINE_MAX_ROWS = 16


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
        inline_below_s: a request of at most 16 rows is predicted on the event loop,
            not in the thread, when nothing else is queued or in flight and the moving
            average of the model's recent calls is below this (0 turns it off). The
            default, 200 µs, admits ONNX and small linear models; a model that may block
            for longer than this should not run on the loop.
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
        inline_below_s: float = 0.0002,
    ) -> None:
        self._predict = predict
        self.inline_below_s = inline_below_s
        self.label = label
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self._observe = observe
        # the loop hands items over in lists, once per loop iteration (see _hand_over)
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._outbox: list[_Item] = []
        self._queued_rows = 0  # changed on the event loop only
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._inline_pending = False  # a request is deciding whether to run inline
        self._timed_calls = 0  # calls of at most _INLINE_MAX_ROWS rows, timed
        self._call_s = 0.0  # their moving average, in seconds

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
        if self._may_run_inline(rows):
            arrived = time.perf_counter()
            self._inline_pending = True
            try:
                # one loop turn: requests that arrived together (a burst under load)
                # reach the batcher now and are queued, and this one then joins them
                await asyncio.sleep(0)
            finally:
                self._inline_pending = False
            if not self._queued_rows:
                return self._predict_inline(columns, rows, arrived)
            if self._closing:
                raise ModelNotReady(self.label, "it is being unloaded")
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start(loop)
        future: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()
        self._queued_rows += rows
        if not self._outbox:
            loop.call_soon(self._hand_over)
        self._outbox.append(_Item(columns, rows, future))
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
        if self._outbox:
            self._hand_over()  # what arrived this loop iteration goes before the stop marker
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
                    items = self._queue.get_nowait()
                except queue.Empty:
                    break
                for item in items or ():
                    if not item.future.done():
                        item.future.set_exception(ModelNotReady(self.label, "it was unloaded"))

    def _may_run_inline(self, rows: int) -> bool:
        return (
            not self._queued_rows  # nothing queued, nothing in flight in the thread
            and not self._inline_pending
            and rows <= _INLINE_MAX_ROWS
            and self._timed_calls >= _WARMUP_CALLS
            and self._call_s < self.inline_below_s
        )

    def _predict_inline(self, columns: Columns, rows: int, arrived: float) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        result = self._predict_one(columns, rows)
        if self._observe is not None:
            self._observe(rows, [started - arrived])
        if isinstance(result, BaseException):
            raise PredictionFailed(self.label, result)
        return result

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._work, name=f"predict-{self.label}", daemon=True
        )
        self._thread.start()

    def _hand_over(self) -> None:
        # Requests that reached the batcher in the same loop iteration cross to the
        # thread together: one wake-up for all of them, not one each (each wake-up is
        # a GIL hand-off that stalls the loop).
        items, self._outbox = self._outbox, []
        self._queue.put(items)

    def _expire(self, future: asyncio.Future[dict[str, np.ndarray]], timeout_s: float) -> None:
        if not future.done():
            future.set_exception(InferenceTimeout(self.label, timeout_s))

    # --- in the batcher's thread -------------------------------------------------------

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        waiting: deque[_Item] = deque()
        stopping = False
        try:
            while waiting or not stopping:
                if not waiting:
                    stopping = self._receive(waiting, block=True)
                    continue
                stopping |= self._receive(waiting, block=False)
                taken = self._take(waiting)
                if len(taken) > 1 and not stopping and self.max_wait_s > 0:
                    stopping = self._fill(taken, waiting)
                # futures are only read here; a stale answer costs one wasted prediction
                batch = [item for item in taken if not item.future.done()]
                dropped = sum(item.rows for item in taken) - sum(item.rows for item in batch)
                started = time.perf_counter()
                results = self._predict_batch(batch) if batch else []
                loop.call_soon_threadsafe(self._deliver, batch, results, started, dropped)
        except RuntimeError:  # the event loop was closed under us (interpreter exit)
            return
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._finish)

    def _receive(self, waiting: deque[_Item], *, block: bool, timeout: float | None = None) -> bool:
        """Move handed-over items into ``waiting``; True once the stop marker arrives."""
        try:
            items = self._queue.get(block, timeout)
        except queue.Empty:
            return False
        while True:
            if items is None:
                return True
            waiting.extend(items)
            try:
                items = self._queue.get_nowait()
            except queue.Empty:
                return False

    def _take(self, waiting: deque[_Item], taken: list[_Item] | None = None) -> list[_Item]:
        """Items from the front of ``waiting`` up to ``max_batch_size`` rows (at least one)."""
        taken = [] if taken is None else taken
        rows = sum(item.rows for item in taken)
        while waiting and (not taken or rows + waiting[0].rows <= self.max_batch_size):
            item = waiting.popleft()
            taken.append(item)
            rows += item.rows
        return taken

    def _fill(self, taken: list[_Item], waiting: deque[_Item]) -> bool:
        """Under load (several already taken), wait up to ``max_wait_s`` for a fuller batch."""
        deadline = taken[0].enqueued + self.max_wait_s
        while not waiting and sum(item.rows for item in taken) < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            if self._receive(waiting, block=True, timeout=remaining):
                self._take(waiting, taken)
                return True
            self._take(waiting, taken)
        return False

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
        """Call the model once (in the thread, or inline on the loop); its error is returned."""
        started = time.perf_counter()
        try:
            outputs = self._predict(columns)
            for name, out in outputs.items():
                if np.ndim(out) == 0 or len(out) != rows:
                    raise ValueError(f"output '{name}' has shape {np.shape(out)} for {rows} rows")
            return outputs
        except Exception as exc:
            return exc
        finally:
            if rows <= _INLINE_MAX_ROWS:
                self._time_call(time.perf_counter() - started)

    def _time_call(self, seconds: float) -> None:
        # Written from the thread and read on the loop: a float swap under the GIL; a
        # stale read at worst sends one request the other way. Until warmed up the
        # average is the latest call, so a slow first call does not linger in it.
        if self._timed_calls < _WARMUP_CALLS:
            self._call_s = seconds
        else:
            self._call_s += _EMA_WEIGHT * (seconds - self._call_s)
        self._timed_calls += 1

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

"""A BatchWriter that runs another one in a child process, off the server's GIL and CPU budget.

The embedded SQLite sink costs ~15 us of CPU per event inside SQLite (four B-trees per
row) plus its Python; in the server process that time competes with the request
threads for the GIL. ``ProcessWriter`` keeps only the encoding in the server (one
``orjson`` call per event, or per batch of rows) and hands the bytes to a child
process over a pipe; the child decodes them and calls the real writer. A child that
dies is restarted on the next batch (the batch is retried, as for any unavailable
backend).

The child is ``python -m shipyard.monitoring.offload MODULE:FUNCTION ARG...``, not a
multiprocessing child: it never re-imports the server's ``__main__`` (a script without
an ``if __name__ == "__main__"`` guard would start a second server). Frames on its
stdin and stdout are a 4-byte big-endian length, then JSON.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import operator
import os
import select
import struct
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Literal

import orjson

from shipyard.monitoring.encoded import EncodedBatch
from shipyard.monitoring.events import ServedPrediction, SinkUnavailable, yield_gil
from shipyard.store.events import SERVED_FIELDS, json_default

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

START_TIMEOUT_S = 60.0
WRITE_TIMEOUT_S = 60.0
_HEADER = struct.Struct(">I")
Priority = Literal["idle", "low", "normal"]


class ProcessWriter:
    """Writes through the BatchWriter that ``factory(*args)`` builds in a child process.

    Args:
        factory: ``"module:function"``, importable in the child, returning a BatchWriter.
        args: strings passed to it (e.g. the database URL).
        name: the name the sink reports.
        priority: the child's CPU priority, set before it imports anything, so its
            start-up too yields to the server's (see :func:`lower_priority`).
        takes_events: the sink hands over events, not rows: each encoded by
            :meth:`encode` as it is emitted (``EventSink``), or as they are; each is
            sent as its fields in order, and the child makes the rows
            (``store.events.served_values``). For a child whose writer expects that.

    Example:
        >>> ProcessWriter("shipyard.monitoring.sinks:sql_writer", url, name="sqlite")  # doctest: +SKIP
    """

    batch_rows: int | None = None

    def __init__(
        self,
        factory: str,
        *args: str,
        name: str,
        priority: Priority = "normal",
        takes_events: bool = False,
    ) -> None:
        self.factory = factory
        self.args = args
        self.name = name
        self.priority = priority
        self.takes_events = takes_events
        self.extra: str | None = None  # what the child's writer last sent with an answer
        self._stale = False  # a batch was answered without it since
        self._process: subprocess.Popen[bytes] | None = None

    def open(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipyard.monitoring.offload",
                f"--priority={self.priority}",
                self.factory,
                *self.args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        _widen_pipe(self._process.stdin)
        status = self._receive(START_TIMEOUT_S, "start")
        if status != "ready":
            self._stop()
            raise SinkUnavailable(self.name, f"the writer process failed to open: {status}")

    def write(self, rows: Sequence[Any]) -> int:
        if self._process is None or self._process.poll() is not None:
            self.open()
        assert self._process is not None and self._process.stdin is not None
        # events encoded at emit come as one buffer; objects are encoded here
        if isinstance(rows, EncodedBatch):
            payload = rows.json()
        else:
            payload = _encode_sliced(rows, _served_fields if self.takes_events else None)
        try:
            self._process.stdin.write(_HEADER.pack(len(payload)) + payload)
            self._process.stdin.flush()
        except OSError as exc:
            self._stop()
            raise SinkUnavailable(self.name, f"the writer process is gone ({exc})") from None
        kind, value, *extra = self._receive(WRITE_TIMEOUT_S, "write")
        self._stale = self.extra is not None and not extra  # a child that sends some
        if extra:
            self.extra = extra[0]
        if kind == "ok":
            return int(value)
        if kind == "unavailable":
            raise SinkUnavailable(self.name, str(value))
        raise ValueError(f"the {self.name} writer refused the batch: {value}")

    def refresh(self) -> None:
        """Ask the child for what it sends with an answer, if the last answer had none
        (called by the sink when idle: the worker sends its metrics at most so often)."""
        if self._stale and self._process is not None and self._process.poll() is None:
            self.write([])

    @staticmethod
    def encode(event: Any) -> bytes:
        """One event as the JSON the child reads (``takes_events``): an array of its
        fields in ``store.events.SERVED_FIELDS`` order.

        Raises:
            TypeError: ``event`` is not a prediction event.
        """
        try:  # an event object, read in C (one frame: this runs on the request path)
            fields = _FIELDS(event)
        except AttributeError:
            fields = _served_fields(event)
        return orjson.dumps(fields, default=json_default, option=_OPTIONS)

    def close(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.write(_HEADER.pack(0))
                self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._stop()

    def _receive(self, timeout: float, what: str) -> Any:
        assert self._process is not None and self._process.stdout is not None
        try:
            return orjson.loads(_read_frame(self._process.stdout, timeout))
        except (OSError, EOFError, TimeoutError, orjson.JSONDecodeError) as exc:
            self._stop()
            raise SinkUnavailable(
                self.name, f"the writer process did not {what}: {exc!r}"
            ) from None

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


def _widen_pipe(stream: IO[bytes] | None, size: int = 1 << 20) -> None:
    """Let a batch (~0.2 KB an event) fit the pipe whole: one write, one GIL hand-off,
    instead of one per 64 KB that the child drains (Linux; elsewhere nothing changes)."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if stream is None or setpipe is None:
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: kept as is
        fcntl.fcntl(stream.fileno(), setpipe, size)


def _encode_sliced(
    rows: Sequence[Any], form: Callable[[Any], Any] | None = None, size: int = 128
) -> bytes:
    """One JSON array of ``rows`` (or events), each made ``form(row)`` first if given,
    encoded ``size`` at a time.

    orjson holds the GIL for a whole call: a 1,000-event batch in one call stalls the
    server's event loop for milliseconds; slices, with the GIL handed over between
    them (``yield_gil``), keep each stall to a few tenths of a millisecond.
    """
    parts = []
    for start in range(0, len(rows), size):
        piece = rows[start : start + size]
        items = [form(r) for r in piece] if form is not None else list(piece)
        part = orjson.dumps(items, default=json_default, option=_OPTIONS)
        parts.append(part[1:-1])
        yield_gil()
    return b"[" + b",".join(p for p in parts if p) + b"]"


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_FIELDS = operator.attrgetter(*SERVED_FIELDS)  # in C: a PredictionEvent's fields, in order
_OPTIONAL = frozenset(SERVED_FIELDS) - frozenset(ServedPrediction.__annotations__)


def _served_fields(event: Any) -> Any:
    """An event object's fields in ``SERVED_FIELDS`` order; a mapping (an event's fields
    by name, which the child reads too) as it is.

    Raises:
        TypeError: ``event`` is neither.
    """
    try:
        return _FIELDS(event)
    except AttributeError:
        if isinstance(event, Mapping):
            return event
        missing = [n for n in SERVED_FIELDS if n not in _OPTIONAL and not hasattr(event, n)]
        if missing:
            raise TypeError(
                f"{type(event).__name__} is not a prediction event (no {', '.join(missing)})"
            ) from None
        # an event type without the optional fields (status, key): None, as stored
        return tuple(getattr(event, name, None) for name in SERVED_FIELDS)


def lower_priority(priority: str) -> None:
    """Lower this process's CPU priority: ``idle`` (Linux ``SCHED_IDLE``: runs only on
    CPU time nothing else wants; elsewhere the lowest nice value), ``low`` (nice 10) or
    ``normal``. Where the platform refuses, the process keeps its priority."""
    with contextlib.suppress(OSError, AttributeError):
        if priority == "idle" and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        elif priority in ("idle", "low"):
            os.nice(19 if priority == "idle" else 10)


def _read_frame(stream: IO[bytes], timeout: float | None) -> bytes:
    if timeout is not None:
        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no answer within {timeout} s")
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the pipe closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe closed mid-frame")
    return data


def _send(out: IO[bytes], value: Any) -> None:
    data = orjson.dumps(value)
    out.write(_HEADER.pack(len(data)) + data)
    out.flush()


def main(argv: list[str]) -> int:
    """The child: build the writer, then write each batch received until an empty frame."""
    # Frames go to the real stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    if argv and argv[0].startswith("--priority="):
        lower_priority(argv[0].removeprefix("--priority="))
        argv = argv[1:]
    try:
        module, _, function = argv[0].partition(":")
        writer = getattr(importlib.import_module(module), function)(*argv[1:])
        writer.open()
    except Exception as exc:
        _send(out, f"{type(exc).__name__}: {exc}")
        return 1
    # What is alive now (imports, the writer) lives as long as the process: frozen, it
    # is not walked by every full collection, which a batch's rows would otherwise
    # trigger often (measured: ~7 us more per event with 1,000-event batches).
    gc.freeze()
    _send(out, "ready")
    # a writer with extra() sends more with each answer (the worker: its metrics)
    extra = getattr(writer, "extra", lambda: None)
    write_json = getattr(writer, "write_json", None)  # takes the frame's bytes as they came
    # work that need not hold up the answer (the worker's drift checks)
    after_answer = getattr(writer, "after_answer", lambda: None)
    try:
        while True:
            payload = _read_frame(stdin, None)
            if not payload:
                break
            # A batch decoded from JSON holds no reference cycles, yet its thousands of
            # containers would start a dozen collections that walk them all, young then
            # older (measured: 0.6 us per event); refcounting frees them at the end.
            gc.disable()
            try:
                if write_json is not None:
                    answer = ["ok", write_json(payload)]
                else:
                    answer = ["ok", writer.write(orjson.loads(payload))]
            except SinkUnavailable as exc:
                answer = ["unavailable", exc.reason]
            except Exception as exc:
                answer = ["refused", f"{type(exc).__name__}: {exc}"]
            finally:
                gc.enable()
            more = extra()
            _send(out, answer if more is None else [*answer, more])
            try:
                after_answer()
            except Exception as exc:  # the batch is answered: the loop goes on
                print(f"after the answer: {type(exc).__name__}: {exc}", file=sys.stderr)
    except (EOFError, OSError):
        pass  # the server went away
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

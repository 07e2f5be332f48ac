"""Events encoded at emit, held end to end in a few buffers rather than one object each.

A server sending its events to the monitoring worker encodes each one as it is emitted
(``ProcessWriter.encode``). Kept as one ``bytes`` object per event, a batch is a
thousand objects spread over the heap, allocated on the request path, then joined and
freed by the writer thread, cold by then: measured here, 3.2 us per event from the
emit to the bytes sent, against 2.5 us with each copied onto the end of one buffer
(benchmarks/RESULTS.md). So the queue holds chunks of up to ``batch_size`` events,
each one buffer, and hands the writer a whole chunk: the JSON array it sends is that
buffer between two brackets.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from typing import overload


class EncodedBatch(Sequence[bytes]):
    """Encoded events end to end in one buffer, comma-separated as in a JSON array.

    A sequence of each event's bytes (a slice is a batch again), so a writer that is
    given one can split it to find an event it refuses; :meth:`json` is the array whole.
    """

    __slots__ = ("_buffer", "_ends", "_first")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ends = array("q")  # where each event's bytes end in the buffer
        self._first = 0  # how many events at the front were taken out

    def add(self, data: bytes) -> None:
        if self._ends:
            self._buffer += b","
        self._buffer += data
        self._ends.append(len(self._buffer))

    def json(self) -> bytes:
        """The events as one JSON array."""
        return b"[" + self._buffer[self._start(self._first) :] + b"]"

    def popleft(self) -> bytes:
        """The first event's bytes, taken out of the batch.

        Raises:
            IndexError: the batch is empty.
        """
        item = self[0]
        self._first += 1
        return item

    def cut(self, n: int) -> EncodedBatch:
        """The first ``n`` events, taken out of the batch.

        Raises:
            ValueError: ``n`` is not fewer than the events it holds.
        """
        if not 0 <= n < len(self):
            raise ValueError(f"cannot cut {n} events from a batch of {len(self)}")
        head = self[:n]
        self._first += len(head)
        return head

    def __len__(self) -> int:
        return len(self._ends) - self._first

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self)):
            yield self[i]

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> EncodedBatch: ...

    def __getitem__(self, index: int | slice) -> bytes | EncodedBatch:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("an EncodedBatch slices with step 1 only")
            if start == 0 and stop == len(self):
                return self
            part = EncodedBatch()
            for i in range(start, stop):
                part.add(self[i])
            return part
        n = len(self)
        if not -n <= index < n:
            raise IndexError("EncodedBatch index out of range")
        i = self._first + (index % n)
        return bytes(self._buffer[self._start(i) : self._ends[i]])

    def _start(self, i: int) -> int:
        return self._ends[i - 1] + 1 if i else 0


class EncodedQueue:
    """A FIFO of encoded events in chunks of ``chunk`` events (``EncodedBatch``).

    Thread-safe as a ``deque`` is: the server's threads append, the sink's writer
    thread takes.
    """

    def __init__(self, chunk: int) -> None:
        self.chunk = max(1, chunk)
        self._chunks: deque[EncodedBatch] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        self.offer(data, sys.maxsize)

    def offer(self, data: bytes, limit: int) -> int:
        """Append ``data`` unless ``limit`` events are queued already.

        Returns the events queued after it, or 0 when the queue was full (nothing was
        appended). On the request path, so the chunk's buffer is extended here, in one
        frame: through ``EncodedBatch.add`` and two ``__len__`` calls, queueing took 13k
        instructions an event, and takes 8k this way (callgrind, in process).
        """
        with self._lock:
            size = self._size
            if size >= limit:
                return 0
            chunks = self._chunks
            # a chunk's raw count: events evicted from its front still fill it
            if not chunks or len(chunks[-1]._ends) >= self.chunk:
                chunks.append(EncodedBatch())
            tail = chunks[-1]
            buffer, ends = tail._buffer, tail._ends
            if ends:  # as EncodedBatch.add: a comma after every event, taken out or not
                buffer += b","
            buffer += data
            ends.append(len(buffer))
            self._size = size + 1
            return size + 1

    def popleft(self) -> bytes:
        """The oldest event's bytes (a full queue evicting it).

        Raises:
            IndexError: the queue is empty.
        """
        with self._lock:
            first = self._chunks[0]
            item = first.popleft()
            if not first:
                self._chunks.popleft()
            self._size -= 1
            return item

    def take(self, n: int) -> EncodedBatch:
        """The oldest chunk: at most ``n`` events, fewer if that is all one chunk holds."""
        with self._lock:
            if not self._chunks:
                return EncodedBatch()
            first = self._chunks[0]
            # a chunk that grew since the sink counted it gives only what was asked
            batch = first.cut(n) if len(first) > n else self._chunks.popleft()
            self._size -= len(batch)
            return batch

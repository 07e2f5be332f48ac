"""Limits at the door: body size (also chunked and after decompression), JSON depth.

Every check here runs before a byte reaches a parser that could be made to work hard:
the body is counted while it streams in, decompression stops at the limit, and JSON
nesting is measured before ``orjson`` sees the text (orjson alone allows 1024 levels,
deep enough to exhaust Python's recursion in whatever walks the result).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from starlette.requests import ClientDisconnect, Request

from shipyard.serving.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_JSON_DEPTH = 32
ENCODINGS = ("identity", "gzip", "deflate")

_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


async def read_body(
    request: Request, limit: int, headers: Mapping[str, str] | None = None
) -> bytes:
    """The request body, decompressed, refused as soon as it passes ``limit`` bytes.

    ``headers`` (lower-case names) saves re-reading them when the caller has them.

    Raises:
        PayloadTooLarge: Content-Length, the streamed bytes or the decompressed bytes
            exceed ``limit``.
        UnsupportedMediaType: a Content-Encoding other than gzip or deflate.
    """
    headers = request.headers if headers is None else headers
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ENCODINGS:
        raise UnsupportedMediaType(encoding, ENCODINGS, header="Content-Encoding")
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput(f"Content-Length {declared[:20]!r} is not a number")
        if len(declared) > 18 or int(declared) > limit:
            raise PayloadTooLarge("request body", f"{declared[:20]} bytes", limit)
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge("request body", f"more than {limit} bytes", limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if encoding == "identity":
        return body
    return decompress(body, encoding, limit)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip or deflate (zlib, or raw as some clients send), stopping at ``limit`` bytes."""
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    try:
        return _inflate(body, wbits, limit)
    except zlib.error:
        if encoding != "deflate":
            raise InvalidInput(f"the body is not valid {encoding} data") from None
    try:
        return _inflate(body, -zlib.MAX_WBITS, limit)
    except zlib.error:
        raise InvalidInput("the body is not valid deflate data") from None


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge("decompressed request body", f"more than {limit} bytes", limit)
    if not inflater.eof:
        raise zlib.error("truncated")
    return out


def check_json_depth(text: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text nested deeper than ``limit``; brackets inside strings don't count.

    Cheap for the usual small request: text with at most ``limit`` opening brackets
    cannot be deeper, so the exact vectorised scan runs only when there are more.

    Raises:
        InvalidInput: naming the depth found and the limit.
    """
    if text.count(b"[") + text.count(b"{") <= limit:
        return
    raw = np.frombuffer(text, dtype=np.uint8)
    quote = raw == ord('"')
    backslash = raw == ord("\\")
    if backslash.any():
        # a quote is escaped when an odd run of backslashes stands right before it
        idx = np.arange(raw.size)
        last_plain = np.maximum.accumulate(np.where(backslash, -1, idx))
        run = np.zeros(raw.size, dtype=np.int64)
        run[1:] = idx[:-1] - last_plain[:-1]
        quote &= run % 2 == 0
    outside = np.cumsum(quote) % 2 == 0
    step = ((raw == _OPEN[0]) | (raw == _OPEN[1])).astype(np.int32)
    step -= (raw == _CLOSE[0]) | (raw == _CLOSE[1])
    step *= outside
    depth = int(np.cumsum(step).max(initial=0))
    if depth > limit:
        raise InvalidInput(f"the JSON is nested {depth} levels deep; at most {limit} are allowed")


def parse_json(text: bytes | memoryview) -> Any:
    """Parse JSON after checking its depth; NaN, Infinity and bad UTF-8 are refused.

    Raises:
        InvalidInput: malformed, too deeply nested, or not UTF-8.
    """
    if isinstance(text, memoryview):
        text = bytes(text)
    if not text.strip():
        raise InvalidInput("the body is empty", hint="send a JSON object")
    check_json_depth(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # orjson's message names the line and column, never our code or paths
        raise InvalidInput(f"the body is not valid JSON: {exc}"[:300]) from None

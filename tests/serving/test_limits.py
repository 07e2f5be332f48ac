"""Limits: JSON depth measured before parsing, bounded decompression."""

from __future__ import annotations

import gzip
import zlib

import pytest

from shipyard.serving.errors import InvalidInput, PayloadTooLarge
from shipyard.serving.limits import MAX_JSON_DEPTH, check_json_depth, decompress, parse_json


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (b"[" * 32 + b"]" * 32, False),
        (b"[" * 33 + b"]" * 33, True),
        (b'{"a":' * 40 + b"1" + b"}" * 40, True),
        (b'["' + b"[" * 500 + b'"]', False),  # brackets in a string
        (b'["\\"' + b"[" * 500 + b'"]', False),  # after an escaped quote, still a string
        (b'["\\\\"' + b"[" * 40 + b"]" * 40 + b"]", True),  # an escaped backslash ends it
        (b'[{"k": [' * 11 + b"]}]" * 11, True),
    ],
)
def test_depth_is_measured_outside_strings(text: bytes, deep: bool) -> None:
    if deep:
        with pytest.raises(InvalidInput, match=f"at most {MAX_JSON_DEPTH} are allowed"):
            check_json_depth(text)
    else:
        check_json_depth(text)


def test_parse_json_refuses_what_python_json_accepts() -> None:
    for text in (b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[1e999]"):
        with pytest.raises(InvalidInput, match="not valid JSON"):
            parse_json(text)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_decompression_round_trips_and_stops_at_the_limit(encoding: str) -> None:
    data = b'{"inputs": []}' * 100
    if encoding == "gzip":
        packed = gzip.compress(data)
    elif encoding == "deflate":
        packed = zlib.compress(data)
    else:
        obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = obj.compress(data) + obj.flush()
    name = "gzip" if encoding == "gzip" else "deflate"
    assert decompress(packed, name, len(data)) == data
    with pytest.raises(PayloadTooLarge):
        decompress(packed, name, len(data) - 1)

"""Step outputs to content-addressed bytes and back, without arbitrary pickle.

Each supported type has one format: DataFrames and Series as Parquet, arrays as
``.npy`` (no object arrays), JSON values as canonical JSON, scikit-learn estimators
with skops, bundles as their archive, ``bytes`` as they are. A tuple output stores
each item and a small JSON index of their digests. Equal values give equal bytes, so
a downstream step whose inputs did not change is a cache hit.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from shipyard.errors import PipelineError
from shipyard.store.artifacts import ArtifactStore


def dump(value: Any, artifacts: ArtifactStore) -> tuple[str, str]:
    """Store a step output; returns (digest, format)."""
    fmt, data = _encode(value, artifacts)
    return artifacts.put_bytes(data), fmt


def load(digest: str, fmt: str, artifacts: ArtifactStore) -> Any:
    """Read back a stored step output, verifying its digest."""
    if fmt == "bundle":
        return _load_bundle(digest, artifacts)
    data = artifacts.get_bytes(digest)
    return _decode(fmt, data, artifacts)


def _encode(value: Any, artifacts: ArtifactStore) -> tuple[str, bytes]:
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.Series):
        return "series", _parquet(
            value.to_frame(name=value.name if value.name is not None else "__series__")
        )
    if isinstance(value, pd.DataFrame):
        return "dataframe", _parquet(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            raise _unsupported(
                value, "object arrays cannot be stored without pickle; use a DataFrame"
            )
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return "ndarray", buf.getvalue()
    if isinstance(value, bytes):
        return "bytes", value
    if isinstance(value, tuple):
        items = [dict(zip(("digest", "format"), dump(v, artifacts), strict=True)) for v in value]
        return "tuple", json.dumps({"items": items}, sort_keys=True).encode()
    if _is_bundle(value):
        from shipyard.bundle.archive import pack

        with tempfile.TemporaryDirectory() as tmp:
            archive = pack(value.path, Path(tmp) / "bundle.tar.gz")
            return "bundle", archive.read_bytes()
    if _is_estimator(value):
        import skops.io as sio

        return "skops", sio.dumps(value)
    try:
        return "json", json.dumps(_plain(value), sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError):
        raise _unsupported(value) from None


def _decode(fmt: str, data: bytes, artifacts: ArtifactStore) -> Any:
    import numpy as np
    import pandas as pd

    if fmt == "dataframe":
        return pd.read_parquet(io.BytesIO(data))
    if fmt == "series":
        frame = pd.read_parquet(io.BytesIO(data))
        series = frame.iloc[:, 0]
        return series.rename(None) if series.name == "__series__" else series
    if fmt == "ndarray":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if fmt == "bytes":
        return data
    if fmt == "json":
        return json.loads(data)
    if fmt == "tuple":
        return tuple(load(i["digest"], i["format"], artifacts) for i in json.loads(data)["items"])
    if fmt == "skops":
        import skops.io as sio

        # The bytes were written by this store and just matched the digest recorded
        # for them, so the types they name are the ones we serialised ourselves.
        trusted = sio.get_untrusted_types(data=data)
        return sio.loads(data, trusted=trusted)
    raise PipelineError(
        f"stored output has unknown format {fmt!r}", hint="rerun with caching off for that step"
    )


def _load_bundle(digest: str, artifacts: ArtifactStore) -> Any:
    from shipyard.bundle.archive import unpack
    from shipyard.bundle.manifest import Bundle

    cache = (
        Path(artifacts.root if "://" not in artifacts.root else tempfile.gettempdir())
        / "unpacked"
        / digest
    )
    if not (cache / "manifest.json").exists():
        with tempfile.TemporaryDirectory() as tmp:
            archive = artifacts.fetch(digest, Path(tmp) / "bundle.tar.gz")
            unpack(archive, cache)
    return Bundle.open(cache)


def _parquet(frame: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=True)
    buf = io.BytesIO()
    # fixed writer settings so that equal frames give equal bytes
    pq.write_table(table, buf, compression="zstd", write_statistics=False, store_schema=True)
    return buf.getvalue()


def _plain(value: Any) -> Any:
    """numpy scalars and nested containers to plain JSON values."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, list | dict | str):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "get_params") and hasattr(value, "fit")


def _is_bundle(value: Any) -> bool:
    return (
        type(value).__name__ == "Bundle" and hasattr(value, "manifest") and hasattr(value, "path")
    )


def _unsupported(value: Any, why: str | None = None) -> PipelineError:
    return PipelineError(
        f"a step returned a {type(value).__module__}.{type(value).__name__}, which cannot be stored"
        + (f": {why}" if why else ""),
        hint="return a DataFrame, Series, numpy array, JSON value, bytes, scikit-learn estimator, "
        "Bundle, or a tuple of these",
    )

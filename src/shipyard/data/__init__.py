"""Versioned datasets, their rules and their profiles.

Owns what a dataset is: an immutable Parquet snapshot named by the sha256 of its bytes
(``Dataset``), the rules its rows must follow (``DataSchema``), and the per-column
statistics later compared with live traffic (``Profile``).

How data enters and leaves:

- in: ``Dataset.snapshot(df, name, project)`` -> Parquet bytes into the artifact store,
  profile computed, a record into the metadata store (``store.datasets``);
- out: ``Dataset.load(ref, project).to_pandas()`` (the bytes re-checked against the
  digest); ``dataset.profile`` for monitoring's drift reference; ``DataSchema.check``
  in a pipeline step, and ``DataSchema.to_signature_inputs`` for the server.
"""

from shipyard.data.dataset import Dataset
from shipyard.data.parquet import read_parquet_bytes, to_parquet_bytes
from shipyard.data.profile import ColumnProfile, Profile, profile_frame
from shipyard.data.schema import ColumnSpec, DataSchema
from shipyard.data.validation import DataValidationError, RuleFailure, ValidationReport

__all__ = [
    "ColumnProfile",
    "ColumnSpec",
    "DataSchema",
    "DataValidationError",
    "Dataset",
    "Profile",
    "RuleFailure",
    "ValidationReport",
    "profile_frame",
    "read_parquet_bytes",
    "to_parquet_bytes",
]

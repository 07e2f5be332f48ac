"""The registry: model names, immutable versions, aliases, the promotion gate and its audit log.

Owns what a model version is (a bundle registered under a name, numbered 1, 2, 3, ...),
how one is named (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``; see ``reference``) and
when the ``champion`` alias may move (``gate``).

How data enters and leaves:

- in: ``Registry(project).register(name, bundle_dir)`` -> the bundle packed into the
  artifact store by sha256 -> a version row in the metadata store;
  ``record_test_results`` adds a test suite's outcome to a version.
- out: ``Registry.get(ref)`` -> ``ModelVersion``; ``Registry.load(ref)`` -> archive
  fetched and unpacked once under ``.shipyard/cache/bundles/`` -> ``LoadedModel``.
- promotion: ``promote(registry, ref)`` -> ``evaluate_gate`` scores candidate and
  champion on one frozen dataset and judges the evidence (``PromotionPolicy``) -> the
  alias moves with the evidence recorded, or ``PromotionRefused`` lists what failed.
"""

from shipyard.registry.errors import (
    AliasNotFoundError,
    InvalidReferenceError,
    ModelNotFoundError,
    PromotionRefused,
    VersionNotFoundError,
)
from shipyard.registry.gate import (
    Criterion,
    Evidence,
    GateReport,
    PromotionPolicy,
    evaluate_gate,
    promote,
)
from shipyard.registry.reference import ModelRef, parse_ref
from shipyard.registry.registry import Registry
from shipyard.store.registry import AliasEvent, AliasMovedError, ModelVersion, RegisteredModel

__all__ = [
    "AliasEvent",
    "AliasMovedError",
    "AliasNotFoundError",
    "Criterion",
    "Evidence",
    "GateReport",
    "InvalidReferenceError",
    "ModelNotFoundError",
    "ModelRef",
    "ModelVersion",
    "PromotionPolicy",
    "PromotionRefused",
    "RegisteredModel",
    "Registry",
    "VersionNotFoundError",
    "evaluate_gate",
    "parse_ref",
    "promote",
]

"""ringfence: find repeat offenders on online platforms through the graph that links them.

Everything a notebook or a batch job needs is here::

    import ringfence

    platform = ringfence.generate_platform(n_accounts=20_000, seed=7)
    tables = ringfence.load_tables(platform.accounts, identifiers=platform.identifiers,
                                   edges=platform.edges, enforcement=platform.enforcement)
    result = ringfence.run_flag(tables, review_capacity=200)
    ringfence.write_run(result, "flags/")

The package's layers: :mod:`ringfence.graph` (input contract, graph, identities,
clusters, propagation, stores), :mod:`ringfence.models` (features, model,
scoring, evaluation) and :mod:`ringfence.jobs` (the command line and batch
jobs). Names are imported on first use, so ``import ringfence`` is cheap.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("ringfence")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

# public name -> module that defines it
_API = {
    # input contract
    "load_tables": "ringfence.graph.tables",
    "Tables": "ringfence.graph.tables",
    "InputError": "ringfence.graph.tables",
    "InputWarning": "ringfence.graph.tables",
    # configuration
    "GraphConfig": "ringfence.graph.config",
    "JobConfig": "ringfence.jobs.config",
    "ConfigError": "ringfence.graph.params",
    # the pipeline and the flag job
    "run_pipeline": "ringfence.graph.pipeline",
    "GraphState": "ringfence.graph.pipeline",
    "run_flag": "ringfence.jobs.flag",
    "flag_files": "ringfence.jobs.flag",
    "FlagResult": "ringfence.jobs.flag",
    "ModelScorer": "ringfence.models.scoring",
    "PropagationScorer": "ringfence.models.scoring",
    "Masker": "ringfence.graph.masking",
    # run folders
    "write_run": "ringfence.jobs.runs",
    "read_run": "ringfence.jobs.runs",
    "RunFolderError": "ringfence.jobs.runs",
    # the synthetic platform
    "generate_platform": "ringfence.graph.synth",
    "write_platform": "ringfence.graph.synth",
    # evaluation
    "evaluate_scores": "ringfence.models.evaluate",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'ringfence' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

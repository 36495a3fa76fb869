"""The flag job's configuration: graph parameters plus the job's own, validated once.

The command line and Python build the same :class:`JobConfig`; a YAML file
(``--config``) may hold any of its settings, graph parameters at the top level
beside the job's own::

    review_capacity: 500
    max_paths: 3
    kind_weights: {ip: 0.2}
    share_limits: {ip: 40}

Command-line options override the file. Unknown keys are errors (with a
did-you-mean), so a typo never silently falls back to a default.

Examples
--------
>>> cfg = JobConfig(review_capacity=50)
>>> cfg.capacity_for(20_000), cfg.graph.link_threshold
(50, 0.5)
>>> JobConfig(review_capacity=0)
Traceback (most recent call last):
...
ringfence.graph.params.ConfigError: review_capacity must be an integer >= 1 or None, got 0
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import pandas as pd

from ringfence.graph.config import GraphConfig, load_config, read_settings, unknown_settings
from ringfence.graph.params import (Boolean, ConfigError, Interval, Options, validate_params)
from ringfence.graph.timestamps import TimeError, parse_time

__all__ = ["JobConfig", "default_review_capacity", "FORMATS"]

FORMATS = ("parquet", "csv")
#: the graph engines a job may run on (ringfence.graph.pipeline.ENGINES)
ENGINE_NAMES = ("in-process", "spark")


def default_review_capacity(n_accounts: int) -> int:
    """1 % of accounts, at least 10: a day's work for a small review team."""
    return max(10, math.ceil(0.01 * n_accounts))


class _Timestamp:
    """A time the input contract reads (:func:`~ringfence.graph.timestamps.parse_time`)."""

    def __call__(self, v: Any) -> bool:
        try:
            parse_time(v)
        except TimeError:
            return False
        return True

    def __str__(self) -> str:
        return "a time (ISO 8601 or Unix seconds/milliseconds, 1970-01-01 .. 2100-01-01)"


@dataclass(frozen=True)
class JobConfig:
    """Every setting of the flag job.

    Parameters
    ----------
    graph
        Graph parameters (:class:`~ringfence.graph.config.GraphConfig`).
    review_capacity
        Flag the ``review_capacity`` riskiest eligible accounts; by default 1 %
        of accounts, at least 10 (:func:`default_review_capacity`).
    threshold
        Instead of a capacity: flag every eligible account scoring at least this.
    as_of
        Ages are measured from here (ISO 8601, Unix seconds or milliseconds, a
        Timestamp; stored as a UTC Timestamp); default the newest timestamp in
        the input (:meth:`~ringfence.graph.tables.Tables.newest_timestamp`).
    max_paths
        Evidence paths kept per flagged account.
    model
        A model file saved by ``ringfence train``; without it a model is fitted
        in the run when labels allow.
    decisions
        The reviewers' decisions log (``ringfence decide``) that ``flag_files``
        reads on top of the enforcement table.
    use_model
        False: scores are blacklist propagation alone.
    format
        Output table format, ``"parquet"`` or ``"csv"``.
    release_inputs
        Let the graph build drop the identifiers and edges tables once read
        (about 0.8 GB at 1,000,000 accounts); the command line sets it, a
        notebook keeps its tables by default.
    score_tolerance
        With a previous run (``--previous``): a flagged account's score must move
        by more than this to count as ``rose`` or ``fell`` (default 0.05).
    max_model_age_days
        With a saved ``model``: warn (printed and in run.json's ``warnings``) when
        it was trained more than this many days ago, so that a nightly job that
        scores with a frozen model is told to retrain it; None never warns.
    engine
        ``"in-process"`` (default) or ``"spark"``: where the graph is built
        (:mod:`ringfence.graph.spark`, docs/engines.md).
    spark_master
        With the Spark engine: the master of a new session (default
        ``SPARK_MASTER``, else ``local[k]``); an active session is reused.
    spark_driver_max_links
        With the Spark engine: most links collected to the driver (default
        :data:`ringfence.graph.spark.engine.DRIVER_MAX_LINKS`).
    spark_driver_max_identifiers
        With the Spark engine beyond the driver: most distinct identifiers normalised on the
        driver; beyond, on Spark (default
        :data:`ringfence.graph.spark.levels.DRIVER_MAX_IDENTIFIERS`).
    """

    graph: GraphConfig = field(default_factory=GraphConfig)
    review_capacity: int | None = None
    threshold: float | None = None
    as_of: str | float | pd.Timestamp | None = None
    max_paths: int = 3
    model: str | Path | None = None
    decisions: str | Path | None = None
    use_model: bool = True
    format: str = "parquet"
    release_inputs: bool = False
    score_tolerance: float = 0.05
    max_model_age_days: float | None = 30.0
    engine: str = "in-process"
    spark_master: str | None = None
    spark_driver_max_links: int | None = None
    spark_driver_max_identifiers: int | None = None

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "review_capacity": [Interval(int, 1, None), None],
        "threshold": [Interval(float, 0, 1), None],
        "as_of": [_Timestamp(), None],
        "max_paths": [Interval(int, 0, None)],
        "use_model": [Boolean()],
        "format": [Options(*FORMATS)],
        "release_inputs": [Boolean()],
        "score_tolerance": [Interval(float, 0, 1)],
        "max_model_age_days": [Interval(float, 0, None, closed="neither"), None],
        "engine": [Options(*ENGINE_NAMES)],
        "spark_driver_max_links": [Interval(int, 1, None), None],
        "spark_driver_max_identifiers": [Interval(int, 1, None), None],
    }

    def __post_init__(self) -> None:
        if not isinstance(self.graph, GraphConfig):
            raise ConfigError(f"graph must be a GraphConfig, got {type(self.graph).__name__}")
        validate_params({f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                        self._parameter_constraints)
        if self.as_of is not None:  # one reading of the time for every stage
            object.__setattr__(self, "as_of", parse_time(self.as_of))
        if self.review_capacity is not None and self.threshold is not None:
            raise ConfigError("give review_capacity or threshold, not both")
        if self.model is not None and not self.use_model:
            raise ConfigError("a model file and use_model=False exclude each other")

    def capacity_for(self, n_accounts: int) -> int | None:
        """The review capacity in effect (None when a threshold decides)."""
        if self.threshold is not None:
            return None
        return self.review_capacity or default_review_capacity(n_accounts)

    def replace(self, **changes: Any) -> "JobConfig":
        """A copy with ``changes``; graph parameters may be given by name too."""
        return JobConfig.from_mapping({**self._as_mapping(), **changes})

    def _as_mapping(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], *, label: str = "config") -> "JobConfig":
        """A config from job settings and graph parameters mixed in one mapping.

        A ``graph`` entry (a :class:`GraphConfig` or a mapping) is the base
        for graph parameters named at the top level.
        """
        job_fields = {f.name for f in dataclasses.fields(cls)} - {"graph"}
        graph_fields = {f.name for f in dataclasses.fields(GraphConfig)}
        unknown_settings(label, set(settings) - {"graph"}, job_fields | graph_fields)
        base = settings.get("graph")
        graph_settings = {k: v for k, v in settings.items() if k in graph_fields}
        if isinstance(base, GraphConfig):
            for key in ("kind_weights", "share_limits", "edge_kind_weights"):
                if isinstance(graph_settings.get(key), Mapping):
                    graph_settings[key] = {**getattr(base, key), **graph_settings[key]}
            graph = base.replace(**graph_settings) if graph_settings else base
        else:
            graph = load_config({**(base or {}), **graph_settings}, label=label)
        try:
            return cls(graph=graph, **{k: v for k, v in settings.items() if k in job_fields})
        except ConfigError as e:
            raise ConfigError(f"{label}: {e}") from None

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | None = None,
             **overrides: Any) -> "JobConfig":
        """A config from a YAML file (or mapping), then ``overrides`` that are not None.

        Graph mappings (``kind_weights``, ``share_limits``, ``edge_kind_weights``)
        are merged over the defaults, so a file may name only the kinds it changes.
        """
        label, data = read_settings(source)
        merged = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        # a capacity given on the command line replaces a threshold from the file, and back
        if overrides.get("review_capacity") is not None:
            merged.pop("threshold", None)
        if overrides.get("threshold") is not None:
            merged.pop("review_capacity", None)
        return cls.from_mapping(merged, label=label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the graph's as ``config``, as run.json records them)."""
        return {"config": self.graph.to_dict(), "review_capacity": self.review_capacity,
                "threshold": self.threshold, "max_paths": self.max_paths,
                "score_tolerance": self.score_tolerance,
                "max_model_age_days": self.max_model_age_days}

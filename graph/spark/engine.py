"""The Spark engine behind the pipeline seam (``run_pipeline(..., engine="spark")``).

Where each stage runs (recorded in ``GraphState.engine_info`` and run.json):

- on Spark: reading and checking the input tables (:mod:`.load`), identifier usage with
  the hub limits applied first, pair generation and weights, edge aggregation
  (:mod:`.build`);
- on the driver, from the compact integer tables Spark collected: the account status,
  identities (the linker, connected components, splits), Leiden clusters and
  propagation to full tolerance, with the in-process code
  (:func:`ringfence.graph.pipeline.after_build`), so the state is the in-process one.

When the links (identifier pairs plus edge links) outnumber ``driver_max_links``, they are
not collected: the linker runs on Spark (``ringfence.graph.spark.linking``: levels as
joins, EM on the pattern counts), identities and propagation as joins
(``ringfence.graph.spark.components``, ``ringfence.graph.spark.pagerank``) and clusters are
Leiden per component of the identifier pairs (``ringfence.graph.spark.state``);
``run_pipeline`` then stops with :class:`DriverLimitError` holding those Spark tables (they
are no :class:`GraphState`), and the flag job takes them to the end
(:func:`ringfence.jobs.spark_flag.flag_beyond_driver`; docs/spark.md).
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from ringfence.graph.config import GraphConfig
from ringfence.graph.pipeline import _STAGE_TITLES, STAGES, GraphState, after_build
from ringfence.graph.progress import Stages
from ringfence.graph.spark.build import build_on_spark, pair_frames
from ringfence.graph.spark.levels import driver_max_identifiers as driver_max_identifiers_limit
from ringfence.graph.spark.session import spark_session
from ringfence.graph.tables import Tables
from ringfence.graph.timestamps import parse_time

__all__ = ["spark_engine", "DRIVER_MAX_LINKS", "DriverLimitError"]

#: links collected to the driver at most (about 40 bytes each there): beyond, the graph
#: stages run on Spark (docs/spark.md). ``RINGFENCE_SPARK_DRIVER_MAX_LINKS`` overrides.
DRIVER_MAX_LINKS = 50_000_000

_WHERE = {
    "load and validate": "spark (identifiers, edges); driver (accounts, enforcement, "
                         "decisions: the in-process contract)",
    "build graph": "spark (identifier usage, hub limits, pairs and weights, edge "
                   "aggregation); driver (account status, adjacency from the collected links)",
    "link identities": "driver", "find clusters": "driver", "propagate blacklist": "driver",
}


def _limit(given: int | None) -> int:
    if given is not None:
        return int(given)
    return int(os.environ.get("RINGFENCE_SPARK_DRIVER_MAX_LINKS", DRIVER_MAX_LINKS))


def spark_engine(tables: Tables, config: GraphConfig, *, as_of: str | pd.Timestamp | None,
                 stages: Stages, release_inputs: bool, stop_after: str,
                 master: str | None = None, driver_max_links: int | None = None,
                 driver_max_identifiers: int | None = None) -> GraphState:
    """The graph stages with the build on Spark: the same :class:`GraphState` as in-process.

    Parameters
    ----------
    tables
        :class:`~ringfence.graph.spark.load.SparkTables` (identifiers and edges on
        Spark), or in-process :class:`~ringfence.graph.tables.Tables` (shipped to Spark).
    config, as_of, stages, release_inputs, stop_after
        As :func:`ringfence.graph.pipeline.run_pipeline`.
    master
        Spark master for a new session (default ``SPARK_MASTER``, else ``local[k]``);
        an active session is reused as it is.
    driver_max_links
        Most links collected to the driver (default :data:`DRIVER_MAX_LINKS`); beyond
        it the graph stages run on Spark before stopping with :class:`DriverLimitError`
        (its ``state`` holds their tables).
    driver_max_identifiers
        Most distinct identifiers collected to and normalised on the driver (default
        :data:`~ringfence.graph.spark.levels.DRIVER_MAX_IDENTIFIERS`); beyond it the
        identifier table stays on Spark, numbered and normalised there with the same
        numbers and codes (collected only when the links fit on the driver, whose graph
        holds it).

    Returns
    -------
    GraphState
        ``engine="spark"``; ``engine_info`` says where each stage ran.

    Notes
    -----
    Cost: the build's shuffles on Spark (:func:`ringfence.graph.spark.build.build_on_spark`)
    plus the in-process cost of the later stages on the driver. On two local cores
    the session and the shuffles make it several times slower than in-process: the
    engine pays on a cluster, for inputs that do not fit one machine.

    Examples
    --------
    >>> import ringfence  # doctest: +SKIP
    >>> state = ringfence.run_pipeline(tables, engine="spark")  # doctest: +SKIP
    """
    session = spark_session(master)
    limit = _limit(driver_max_links)
    release = getattr(tables, "frames", None)
    with stages.stage(_STAGE_TITLES["build"]):
        if as_of is None:
            as_of = tables.newest_timestamp() or pd.Timestamp("1970-01-01", tz="UTC")
        else:
            as_of = parse_time(as_of)
        frames = pair_frames(session, tables, config, as_of,
                             max_identifiers=driver_max_identifiers)
        counts = {}
        for name in ("pairs", "links_by_edge"):
            if frames[name] is not None:
                frames[name] = frames[name].persist()
                counts[name] = frames[name].count()
            else:
                counts[name] = 0
        n_links = counts["pairs"] + counts["links_by_edge"]
        info: dict[str, Any] = {
            "master": session.sparkContext.master, "spark_version": session.version,
            "driver_max_links": limit, "identifier_pairs": counts["pairs"],
            "edge_links": counts["links_by_edge"],
        }
        beyond = n_links > limit
        if not beyond:
            graph = build_on_spark(session, tables, config, as_of, frames)
            for name in ("pairs", "links_by_edge"):
                if frames[name] is not None:
                    frames[name].unpersist()
    if beyond:  # after the build's stage: the build did not fail
        info["driver_max_identifiers"] = driver_max_identifiers_limit(driver_max_identifiers)
        return _beyond_driver(session, tables, config, frames, as_of, stages, stop_after, info)
    if release_inputs:  # what the build read is no longer needed
        if release is not None:
            release.clear()
        else:
            tables.drop(*[t for t in ("identifiers", "edges") if tables[t] is not None])
    info["stages"] = _where(release is not None, stop_after)
    state = GraphState(graph=graph, engine="spark", engine_info=info)
    return after_build(state, tables, config, stages, stop_after)


def _where(read_on_spark: bool, stop_after: str) -> dict[str, str]:
    """Where each stage ran, by its title."""
    out = {"load and validate": _WHERE["load and validate"] if read_on_spark
           else "driver (tables given in Python, shipped to Spark for the build)"}
    for name in STAGES[:STAGES.index(stop_after) + 1]:
        title = _STAGE_TITLES[name]
        out[title] = _WHERE[title]
    return out


def _beyond_driver(session: Any, tables: Tables, config: GraphConfig, frames: dict,
                   as_of: pd.Timestamp, stages: Stages, stop_after: str,
                   info: dict[str, Any]) -> GraphState:
    """The links do not fit on the driver: the graph stages run on Spark
    (:func:`ringfence.graph.spark.state.graph_beyond_driver`: the linker, identities,
    Leiden per component, propagation), then the run stops with :class:`DriverLimitError`
    carrying that :class:`~ringfence.graph.spark.state.SparkGraphState`, which the flag job
    takes to the end (:func:`ringfence.jobs.spark_flag.flag_beyond_driver`; docs/spark.md,
    "Beyond the driver").
    """
    from ringfence.graph.spark.state import graph_beyond_driver

    with stages.stage("graph stages on Spark (beyond the driver)"):
        state = graph_beyond_driver(session, tables, config, frames, as_of,
                                    stop_after=max(stop_after, "identities", key=STAGES.index),
                                    max_identifiers=info["driver_max_identifiers"])
    n = info["identifier_pairs"] + info["edge_links"]
    raise DriverLimitError(
        f"{n:,} links are more than the driver takes (spark_driver_max_links = "
        f"{info['driver_max_links']:,}). The graph stages ran on Spark; their tables are "
        "in this error's state (the flag job takes them to the end: "
        "ringfence.jobs.spark_flag) "
        "(docs/spark.md, 'Beyond the driver'), or raise the limit (spark_driver_max_links in "
        "the job's config file, or RINGFENCE_SPARK_DRIVER_MAX_LINKS) if the driver has the "
        "memory: about 40 bytes per link", state=state, info=info)


class DriverLimitError(RuntimeError):
    """More links than ``driver_max_links``: the graph stages ran on Spark. ``state`` holds
    their tables (:class:`~ringfence.graph.spark.state.SparkGraphState`; None when raised
    without them), ``info`` the engine's notes."""

    def __init__(self, message: str, state: Any = None, info: dict | None = None):
        super().__init__(message)
        self.state = state
        self.info = info or {}

"""Syncing a flag job's run folder into Neo4j (what ``ringfence neo4j sync`` runs).

A run folder is the jobs' business, so reading one lives here, not in
:mod:`ringfence.graph.neo4j`: the run's inputs are read again through
:func:`ringfence.jobs.runs.read_run` (checked against the sha256 the run
recorded), its graph is rebuilt with the run's config and as-of time, and
inputs, graph and output tables go to :func:`~ringfence.graph.neo4j.sync_to_neo4j`.
"""

from __future__ import annotations

import os
from typing import Any

from ringfence.graph.neo4j import SyncReport, sync_to_neo4j
from ringfence.jobs.runs import read_run

__all__ = ["sync_run_dir"]


def sync_run_dir(target: Any, run_dir: str | os.PathLike, **kwargs: Any) -> SyncReport:
    """:func:`~ringfence.graph.neo4j.sync_to_neo4j` for a run folder.

    ``target`` is a driver or :class:`~ringfence.graph.neo4j.Neo4jSettings`;
    ``kwargs`` go to ``sync_to_neo4j`` (``batch_size``, ``progress``, ``prune``).
    Raises :class:`~ringfence.jobs.runs.RunFolderError` for a folder that is not
    a run or whose inputs changed since.
    """
    folder = read_run(run_dir)
    tables = folder.inputs()
    state = folder.rebuild(tables, stop_after="build")
    outputs = {name: folder.table(name) for name in ("scores", "links", "clusters")}
    return sync_to_neo4j(target, tables, outputs, graph=state.graph, **kwargs)

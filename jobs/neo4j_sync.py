"""Syncing a flag job's run folder into Neo4j (what ``ringfence neo4j sync`` and
``ringfence neo4j export-bulk`` run).

A run folder is the jobs' business, so reading one lives here, not in
:mod:`ringfence.graph.neo4j`: the run's inputs are read again through
:func:`ringfence.jobs.runs.read_run` (checked against the sha256 the run
recorded), its graph is rebuilt with the run's config and as-of time, and
inputs, graph and output tables go to the sync (incremental when this machine's
sync state matches the database, :mod:`ringfence.graph.neo4j.incremental`) or to
the bulk export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ringfence.graph.neo4j import Neo4jSettings, SyncReport
from ringfence.graph.neo4j.bulk import BulkExport, export_bulk
from ringfence.graph.neo4j.incremental import SyncState, default_state_path, sync_changes
from ringfence.jobs.runs import read_run

__all__ = ["export_run_dir", "sync_run_dir"]


def _run(run_dir: str | os.PathLike) -> tuple[Any, Any, dict]:
    folder = read_run(run_dir)
    tables = folder.inputs()
    state = folder.rebuild(tables, stop_after="build")
    outputs = {name: folder.table(name) for name in ("scores", "links", "clusters")}
    return tables, state.graph, outputs


def sync_run_dir(target: Any, run_dir: str | os.PathLike, *, full: bool = False,
                 state: str | os.PathLike | None = None, **kwargs: Any) -> SyncReport:
    """Sync a run folder: only the changes since the last sync of this database when
    its state (``state``, default :func:`~ringfence.graph.neo4j.incremental.default_state_path`
    of the server and database) matches the database; else, or with ``full``, all of it.

    ``target`` is a driver or :class:`~ringfence.graph.neo4j.Neo4jSettings`; a driver
    without ``state`` (a notebook's) gets the full sync and no state is kept; ``kwargs`` go to
    :func:`~ringfence.graph.neo4j.incremental.sync_changes` (``batch_size``,
    ``progress``, ``prune``). The new state is written after the sync. Raises
    :class:`~ringfence.jobs.runs.RunFolderError` for a folder that is not a run or
    whose inputs changed since.
    """
    tables, graph, outputs = _run(run_dir)
    if state is None:
        settings = target if isinstance(target, Neo4jSettings) else None
        if settings is None:
            # a driver does not say which server it talks to: nothing to key a state file on
            report, _ = sync_changes(target, tables, outputs, None, graph=graph, full=True,
                                     **kwargs)
            return report
        database = kwargs.get("database", settings.database)
        state = default_state_path(settings.uri, database)
    path = Path(state)
    previous = None
    if not full and path.exists():
        try:
            previous = SyncState.read(path)
        except ValueError:
            previous = None          # unreadable: the full sync below rewrites it
    report, new = sync_changes(target, tables, outputs, previous, graph=graph, full=full,
                               **kwargs)
    # the state holds ids and identifier values in clear: a folder only we can read
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    new.write(path)
    return report


def export_run_dir(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                   compress: bool = True) -> BulkExport:
    """:func:`~ringfence.graph.neo4j.bulk.export_bulk` for a run folder: the files
    ``neo4j-admin database import full`` reads, replacing ``out_dir`` atomically."""
    tables, graph, outputs = _run(run_dir)
    return export_bulk(tables, outputs, out_dir, graph=graph, compress=compress)

"""Writing a flag run into Neo4j: :func:`sync_to_neo4j` and what it reports.

The rows come from :mod:`~ringfence.graph.neo4j.rows`; here they are written batch by
batch in managed transactions (retried after transient failures), after the unique
constraints, and then everything not stamped with this run's id is pruned.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ringfence.graph.neo4j.connection import _retrying, _Target
from ringfence.graph.neo4j.names import (CONSTRAINTS, OWN_LABELS, SYNC_LABEL, _any_label,
                                         _checked_name)
from ringfence.graph.neo4j.rows import _outputs, _prepare, _Write, default_run_id
from ringfence.graph.tables import Tables

__all__ = ["StepStats", "SyncReport", "ensure_schema", "sync_to_neo4j"]

@dataclass
class StepStats:
    name: str
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    retries: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SyncReport:
    """What a sync did: rows and rows/s per step, deletions, retries, seconds."""

    run_id: str
    database: str | None
    uri: str
    batch_size: int
    steps: list[StepStats] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    prepare_seconds: float = 0.0
    prune_seconds: float = 0.0
    #: "full" (every row, then prune by stamp) or "incremental" (changes since the last sync)
    mode: str = "full"
    #: why this mode (e.g. why an incremental sync fell back to a full one)
    note: str = ""

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.steps)

    @property
    def rows_per_s(self) -> float:
        write = sum(s.seconds for s in self.steps)
        return self.rows / write if write > 0 else 0.0

    @property
    def retries(self) -> int:
        return sum(s.retries for s in self.steps)

    def step(self, name: str) -> StepStats:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "database": self.database, "uri": self.uri,
            "batch_size": self.batch_size, "rows": self.rows,
            "rows_per_s": round(self.rows_per_s, 1), "seconds": round(self.seconds, 2),
            "prepare_seconds": round(self.prepare_seconds, 2),
            "prune_seconds": round(self.prune_seconds, 2), "retries": self.retries,
            "mode": self.mode, "note": self.note,
            "steps": {s.name: {"rows": s.rows, "batches": s.batches,
                               "seconds": round(s.seconds, 2),
                               "rows_per_s": round(s.rows_per_s, 1), "retries": s.retries}
                      for s in self.steps},
            "deleted": dict(self.deleted),
        }

    def lines(self) -> list[str]:
        out = [f"run {self.run_id} -> {self.uri} database {self.database or '(default)'}: "
               f"{self.rows:,} rows in {self.seconds:.1f} s ({self.rows_per_s:,.0f} rows/s "
               f"while writing; batches of {self.batch_size:,})"]
        if self.mode != "full" or self.note:
            out.append(f"  {self.mode} sync" + (f": {self.note}" if self.note else ""))
        width = max((len(s.name) for s in self.steps), default=8)
        for s in self.steps:
            out.append(f"  {s.name:<{width}}  {s.rows:>10,} rows  {s.seconds:7.1f} s  "
                       f"{s.rows_per_s:>9,.0f} rows/s" + (f"  {s.retries} retries"
                                                          if s.retries else ""))
        gone = {k: v for k, v in self.deleted.items() if v}
        out.append("  deleted stale: " + (", ".join(f"{k} {v:,}" for k, v in gone.items())
                                          if gone else "nothing"))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class _Progress:
    """One line per batch on stderr, at most one a second, and one at the end of a step."""

    def __init__(self, progress: bool | Callable[[str], None] | None, every: float = 1.0):
        if progress is True:
            self.emit: Callable[[str], None] | None = (
                lambda line: print(line, file=sys.stderr, flush=True))
        elif callable(progress):
            self.emit = progress
        else:
            self.emit = None
        self.every, self._last = every, 0.0

    def __call__(self, step: StepStats, total: int, done: bool = False) -> None:
        if self.emit is None:
            return
        now = time.perf_counter()
        if not done and (step.rows >= total or now - self._last < self.every):
            return
        self._last = now
        self.emit(f"neo4j sync: {step.name} {step.rows:,}/{total:,} rows "
                  f"({step.rows_per_s:,.0f} rows/s)" + (" done" if done else ""))

    def log(self, line: str) -> None:
        if self.emit is not None:
            self.emit(line)




def ensure_schema(target, *, database: str | None = None) -> None:
    """Create the sync's unique constraints if they are missing (idempotent)."""
    with _Target(target, database) as t:
        for q in CONSTRAINTS:
            with t.session() as s:
                s.execute_write(lambda tx, q=q: tx.run(q).consume())


#: one query and the rows it takes: (query, number of rows, rows(start, stop))
_Part = tuple[str, int, Callable[[int, int], list]]


def _parts(writes: list[_Write]) -> list[_Part]:
    return [(w.query, len(w), lambda a, b, w=w: w.rows(slice(a, b))) for w in writes]


def _write_step(t: _Target, name: str, parts: list[_Part], params: dict, batch_size: int,
                max_retries: int, progress: _Progress) -> StepStats:
    """All writes of one step (e.g. the USES of every identifier label), batch by batch;
    the rows of a batch are made just before it is sent."""
    stats = StepStats(name)
    total = sum(n for _, n, _ in parts)

    def bump() -> None:
        stats.retries += 1

    for query, n, fetch in parts:
        for start in range(0, n, batch_size):
            batch = fetch(start, min(start + batch_size, n))
            t0 = time.perf_counter()

            def run(query=query, batch=batch):
                with t.session() as s:
                    return s.execute_write(
                        lambda tx: tx.run(query, {**params, "rows": batch}).consume())

            _retrying(run, max_retries, bump, t)
            stats.seconds += time.perf_counter() - t0
            stats.rows += len(batch)
            stats.batches += 1
            progress(stats, total)
    progress(stats, total, done=True)
    return stats


def _prune(t: _Target, run_id: str, chunk: int, max_retries: int,
           progress: _Progress) -> dict[str, int]:
    """Delete what the run does not contain: nodes of the owned labels and relationships
    from an Account to an owned node that are not stamped with ``run_id``. Stamp-based,
    so each pass is one scan (``NOT x IN $keep`` is quadratic on ArcadeDB)."""
    deleted: dict[str, int] = {}
    jobs = [(label, f"MATCH (n:{_checked_name(label)}) "
                    "WHERE n.run_id IS NULL OR n.run_id <> $run_id "
                    "WITH n LIMIT $chunk DETACH DELETE n RETURN count(*) AS deleted")
            for label in OWN_LABELS]
    jobs.append(("relationships",
                 "MATCH (a:Account)-[r]->(x) "
                 f"WHERE {_any_label('x', OWN_LABELS)} "
                 "AND (r.run_id IS NULL OR r.run_id <> $run_id) "
                 "WITH r LIMIT $chunk DELETE r RETURN count(*) AS deleted"))
    for name, query in jobs:
        total = 0
        while True:
            def run(query=query):
                with t.session() as s:
                    return s.execute_write(lambda tx: tx.run(
                        query, run_id=run_id, chunk=chunk).single()["deleted"])
            n = _retrying(run, max_retries, lambda: None, t)
            total += n
            if n < chunk:
                break
        deleted[name] = total
        if total:
            progress.log(f"neo4j sync: deleted {total:,} stale {name}")
    return deleted


def sync_to_neo4j(target, tables: Tables, result: Any, *, database: str | None = None,
                  graph=None, config=None, batch_size: int = 5000, run_id: str | None = None,
                  progress: bool | Callable[[str], None] | None = True, prune: bool = True,
                  max_retries: int = 3) -> SyncReport:
    """Write a flag run (inputs and outputs) into Neo4j; return what was written.

    Parameters
    ----------
    target
        A ``neo4j.Driver`` (not closed here) or :class:`Neo4jSettings` (a driver is
        opened, checked and closed; connection problems raise a one-line
        :class:`Neo4jConnectionError`).
    tables
        The validated input tables of the run (:func:`graph.load_tables`).
    result
        A :class:`jobs.flag.FlagResult`, or a mapping with the output tables
        ``scores``, ``links`` and ``clusters`` (as read by :func:`ringfence.jobs.runs.read_table`).
    database
        The database (default: the settings' database, else the server's default).
    graph, config
        The run's :class:`~graph.build.AccountGraph` (taken from a FlagResult) gives
        identifier linking weights; without it they are recomputed with ``config``
        when given, else left out.
    batch_size
        Rows per ``UNWIND`` transaction (2,000-5,000 is fastest on both servers).
    run_id
        Stamped on everything written; default :func:`default_run_id` (a content hash,
        so syncing the same run twice changes nothing).
    progress
        ``True``: a line per batch (at most one a second) on stderr; a callable gets
        the lines; ``False``/``None``: quiet.
    prune
        Delete the nodes and relationships of the sync's labels and types that this
        run does not contain (stale links, memberships, clusters, accounts, ...).
    max_retries
        Extra attempts per batch after a ``TransientError``, ``ServiceUnavailable`` or
        ``SessionExpired`` (on top of the driver's own retries inside
        ``execute_write``); every batch is an idempotent MERGE.

    Raises
    ------
    ValueError
        Outputs that do not match the inputs, or an edge/identifier kind that is not
        a lower-case token (checked before anything is written).
    Neo4jConnectionError
        Unreachable server, refused credentials, unknown database, lost connection.
    """
    t_start = time.perf_counter()
    run_id, writes = _prepared(tables, result, graph, config, run_id, batch_size)
    prog = _Progress(progress)
    with _Target(target, database) as t:
        report = SyncReport(run_id=run_id, database=t.database, uri=t.uri,
                            batch_size=batch_size,
                            prepare_seconds=time.perf_counter() - t_start)
        _begin(t, report, sum(len(w) for w in writes), max_retries, prog)
        _write_all(t, report, writes, max_retries, prog, prune)
    return _finish(report, t_start, prog)


def _prepared(tables: Tables, result: Any, graph, config, run_id: str | None,
              batch_size: int) -> tuple[str, list[_Write]]:
    """The run id and the sync's writes, everything validated before a write."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    outputs = _outputs(result)
    if graph is None:
        graph = getattr(result, "graph", None)
    if graph is None and config is not None:
        from ringfence.graph.build import build_graph

        as_of = getattr(result, "run", {}).get("as_of") if not isinstance(result, Mapping) \
            else None
        graph = build_graph(tables, config, as_of=as_of)
    run_id = run_id or default_run_id(tables, outputs)
    return run_id, _prepare(tables, outputs, graph, run_id)


def _begin(t: _Target, report: SyncReport, rows: int, max_retries: int,
           prog: _Progress) -> None:
    """Constraints, and no sync marker while the database is being changed: a sync that
    fails half-way leaves none, so the next incremental sync falls back to a full one."""
    prog.log(f"neo4j sync: run {report.run_id} -> {t.uri} "
             f"database {t.database or '(default)'}, "
             f"{rows:,} rows in batches of {report.batch_size:,}")
    for q in CONSTRAINTS:
        _retrying(lambda q=q: _schema(t, q), max_retries, lambda: None, t)
    _retrying(lambda: _schema(t, f"MATCH (s:{_checked_name(SYNC_LABEL)}) DETACH DELETE s"),
              max_retries, lambda: None, t)


def _write_all(t: _Target, report: SyncReport, writes: list[_Write], max_retries: int,
               prog: _Progress, prune: bool) -> None:
    """The full sync: every row, then prune what is not stamped with this run."""
    steps: dict[str, list[_Write]] = {}
    for w in writes:
        steps.setdefault(w.name.split(":")[0], []).append(w)
    for name, group in steps.items():
        report.steps.append(_write_step(t, name, _parts(group), {"run_id": report.run_id},
                                        report.batch_size, max_retries, prog))
    if prune:
        tp = time.perf_counter()
        report.deleted = _prune(t, report.run_id, max(report.batch_size, 1000), max_retries,
                                prog)
        report.prune_seconds = time.perf_counter() - tp


def _finish(report: SyncReport, t_start: float, prog: _Progress) -> SyncReport:
    report.seconds = time.perf_counter() - t_start
    prog.log(f"neo4j sync: {report.rows:,} rows in {report.seconds:.1f} s "
             f"({report.rows_per_s:,.0f} rows/s while writing)")
    return report


def _schema(t: _Target, query: str) -> None:
    with t.session() as s:
        s.execute_write(lambda tx: tx.run(query).consume())

"""The nightly sync: send only what changed since the run the database already holds.

A full sync of a 1,000,000-account run MERGEs about 20 million rows; from one night
to the next most of them are the same. :func:`sync_changes` keeps a *sync state*: per
row of the sync (:mod:`~ringfence.graph.neo4j.rows`), a 128-bit hash of the
columns that identify the element (an account id, a ``(kind, value)``, an edge id, a
pair), a 64-bit hash of everything the row writes except the run stamp, and the key
values needed to delete it. A new run's rows are hashed the same way (pandas
``hash_pandas_object``, column by column), joined to the state, and only new or
changed rows are MERGEd; elements the new run no longer has are deleted by key.

The state is a Parquet file on the machine that syncs (its path defaults to
``$XDG_STATE_HOME/ringfence/neo4j/<server and database>.parquet``; it holds account
ids and identifier values in clear, as the database does, in a ``0700`` folder).
The database holds one ``(:RingfenceSync {name, run_id, state_digest, rows})`` node.
The sync is incremental only when that node's digest is the state file's; every
sync removes the node before it writes and puts it back when it has finished, so a
failed or foreign sync (``sync_to_neo4j``, another machine, ``--full`` elsewhere)
leaves no matching node and the next sync is a full one, which mirrors the run
exactly (and prunes what ringfence did not write).

After an incremental sync the database holds the same nodes, relationships and
properties as after a full sync of the new run, except ``run_id``: on an element
it is the run that last changed it; the run the database holds is the sync node's.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ringfence.graph.atomic import atomic_file
from ringfence.graph.neo4j.connection import _retrying, _Target
from ringfence.graph.neo4j.names import SYNC_LABEL, _checked_name
from ringfence.graph.neo4j.rows import _delete, _py, _Write
from ringfence.graph.neo4j.sync import (
    SyncReport, StepStats, _begin, _finish, _prepared, _Progress, _write_all, _write_step,
)
from ringfence.graph.tables import Tables

__all__ = ["SyncState", "default_state_path", "sync_changes", "sync_state"]

STATE_VERSION = 1
_KEY1, _KEY2 = "ringfence-key-01", "ringfence-key-02"   # hash_pandas_object keys (16 bytes)


@dataclass
class SyncState:
    """What a sync wrote, row by row: ``table`` has ``step``, ``k1``/``k2`` (the key's
    hash), ``h`` (the content's hash) and the key columns by their row field names."""

    run_id: str
    table: pd.DataFrame

    @property
    def digest(self) -> str:
        """sha256 of the state (run id and hashes): what the database records."""
        h = hashlib.sha256(f"v{STATE_VERSION}:{self.run_id}".encode())
        t = self.table
        for c in ("k1", "k2", "h"):            # k1 carries the step
            h.update(t[c].to_numpy(np.uint64).tobytes())
        return h.hexdigest()

    def write(self, path: str | os.PathLike) -> Path:
        """Write atomically as Parquet (with the run id in the file's metadata)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.table, preserve_index=False)
        table = table.replace_schema_metadata({
            **(table.schema.metadata or {}), b"ringfence.run_id": self.run_id.encode(),
            b"ringfence.state_version": str(STATE_VERSION).encode()})
        with atomic_file(path) as tmp:
            pq.write_table(table, tmp)
        return Path(path)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "SyncState":
        """Read a state file; ``ValueError`` when it is not one (or another version)."""
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the sync state {path}: {exc}") from None
        meta = table.schema.metadata or {}
        if meta.get(b"ringfence.state_version") != str(STATE_VERSION).encode():
            raise ValueError(f"{path} is not a ringfence sync state of version {STATE_VERSION}")
        return cls(meta[b"ringfence.run_id"].decode(), table.to_pandas())


def default_state_path(uri: str, database: str | None) -> Path:
    """``$XDG_STATE_HOME/ringfence/neo4j/<hash of uri and database>.parquet``
    (default ``~/.local/state``): one state per database synced from this machine."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = hashlib.sha256(f"{uri}\n{database or ''}".encode()).hexdigest()[:20]
    return base / "ringfence" / "neo4j" / f"{name}.parquet"


def _salt(*parts: Any) -> np.uint64:
    text = repr(parts)
    return np.uint64(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def _hashable(col: pd.Series) -> pd.Series:
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in (
            "string", "empty", "boolean", "integer", "floating"):
        return col.astype(str)      # lists (USES.seen_at), mixed objects
    return col


def _hash(frame: pd.DataFrame, columns: list[str], key: str) -> np.ndarray:
    f = pd.DataFrame({c: _hashable(frame[c]) for c in columns})
    return pd.util.hash_pandas_object(f, index=False, hash_key=key).to_numpy(np.uint64)


def sync_state(writes: list[_Write], run_id: str) -> SyncState:
    """The state of a run's writes: one line per row, in the order of the writes.

    Cost: one hash pass over every column of every write (vectorised).
    """
    parts = []
    for w in writes:
        # the key's hash carries the step (the same account id is another element in
        # another step); the content's hash also the row's shape, so that a new column
        # resends every row of its step (and deletes none)
        fields = {c: k for k, c in w.top}
        key_cols = list(w.key)
        cols = list(dict.fromkeys(c for _, c in w.top + w.props))
        part = pd.DataFrame({
            "step": w.name,
            "k1": _hash(w.frame, key_cols, _KEY1) ^ _salt(w.name),
            "k2": _hash(w.frame, key_cols, _KEY2),
            "h": _hash(w.frame, cols, _KEY1) ^ _salt(w.name, w.top, w.props, sorted(w.const))})
        for c in key_cols:
            v = w.frame[c]
            part[fields[c]] = v.astype("Int64") if pd.api.types.is_integer_dtype(v) \
                else v.astype(str).astype(object)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"step": pd.Series(dtype=object), "k1": pd.Series(dtype=np.uint64),
         "k2": pd.Series(dtype=np.uint64), "h": pd.Series(dtype=np.uint64)})
    table["step"] = table["step"].astype("category")
    return SyncState(run_id, table)


def _marker(t: _Target) -> list[tuple]:
    label = _checked_name(SYNC_LABEL)
    with t.session() as s:
        return s.execute_read(lambda tx: [tuple(r.values()) for r in tx.run(
            f"MATCH (s:{label}) RETURN s.run_id, s.state_digest")])


def _set_marker(t: _Target, state: SyncState, max_retries: int) -> None:
    query = (f"MERGE (s:{_checked_name(SYNC_LABEL)} {{name: 'ringfence'}}) "
             "SET s.run_id = $run_id, s.state_digest = $digest, s.rows = $rows")

    def run() -> None:
        with t.session() as s:
            s.execute_write(lambda tx: tx.run(query, run_id=state.run_id, digest=state.digest,
                                              rows=len(state.table)).consume())
    _retrying(run, max_retries, lambda: None, t)


def _diff(new: SyncState, old: SyncState) -> tuple[np.ndarray, pd.DataFrame]:
    """(a mask of the new rows to send: new or changed; the old rows now gone)."""
    keys = ["k1", "k2"]                         # 128 bits, the step folded into k1
    n = new.table[keys + ["h"]]
    for state in (new, old):
        if state.table.duplicated(keys).any():   # cannot happen with rows.py's keys
            raise ValueError(f"the sync state of run {state.run_id} has duplicate keys")
    # joined on key and content: a row of the new run found unchanged is not sent
    same = n.merge(old.table[keys + ["h"]], on=keys + ["h"], how="left", indicator=True,
                   sort=False)
    send = (same["_merge"] == "left_only").to_numpy()
    gone = old.table.merge(n[keys], on=keys, how="left", indicator=True, sort=False)
    gone = gone[gone["_merge"] == "left_only"].drop(columns="_merge")
    return send, gone


def _incremental(t: _Target, report: SyncReport, writes: list[_Write], send: np.ndarray,
                 gone: pd.DataFrame, max_retries: int, prog: _Progress, prune: bool) -> None:
    """MERGE the rows marked in ``send`` (step by step, as the full sync orders them),
    then delete the gone elements, relationships before nodes."""
    params = {"run_id": report.run_id}
    for name in gone["step"].astype(str).unique():   # every delete query valid before writing
        _delete(name)
    steps: dict[str, list] = {}
    start = 0
    for w in writes:
        idx = np.flatnonzero(send[start:start + len(w)])
        start += len(w)
        if len(idx):
            steps.setdefault(w.name.split(":")[0], []).append(
                (w.query, len(idx), lambda a, b, w=w, idx=idx: w.rows(idx[a:b])))
    for name, parts in steps.items():
        report.steps.append(_write_step(t, name, parts, params, report.batch_size,
                                        max_retries, prog))
    if not prune or not len(gone):
        return
    tp = time.perf_counter()
    order = list(dict.fromkeys([w.name for w in writes]))
    # steps of the old run the new one has none of (an edge kind, an identifier kind gone)
    order = [n for n in gone["step"].astype(str).unique() if n not in order] + order
    stats = StepStats("delete")
    for name in reversed(order):
        part = gone[(gone["step"] == name).to_numpy()]
        if not len(part):
            continue
        query, fields = _delete(name)
        cols = {f: _py(part[f].reset_index(drop=True)) for f in fields}
        rows = [dict(zip(fields, vals)) for vals in zip(*cols.values())]
        st = _write_step(t, f"delete {name}", [(query, len(rows), lambda a, b, r=rows: r[a:b])],
                         params, report.batch_size, max_retries, prog)
        stats.rows += st.rows
        stats.batches += st.batches
        stats.seconds += st.seconds
        stats.retries += st.retries
        report.deleted[name] = st.rows
    report.steps.append(stats)
    report.prune_seconds = time.perf_counter() - tp


def sync_changes(target, tables: Tables, result: Any, previous: SyncState | None, *,
                 database: str | None = None, graph=None, config=None,
                 batch_size: int = 5000, run_id: str | None = None,
                 progress: bool | Callable[[str], None] | None = True, prune: bool = True,
                 max_retries: int = 3, full: bool = False) -> tuple[SyncReport, SyncState]:
    """Sync a run, sending only what changed since ``previous`` when the database
    still holds exactly that state; else (or with ``full``) a full sync.

    Parameters are those of :func:`~ringfence.graph.neo4j.sync_to_neo4j`, plus:

    previous
        The state returned by the last sync of this database (or None).
    full
        Always the full sync (every row, then prune by stamp).

    Returns
    -------
    (SyncReport, SyncState)
        ``report.mode`` is "incremental" or "full" and ``report.note`` says why;
        ``report.rows`` counts the rows sent (new and changed), ``report.deleted``
        the elements deleted per step. Store the state for the next sync (its
        ``digest`` is now on the database's ``RingfenceSync`` node).

    Cost: the full sync's preparation (without building the rows), one hash pass
    over all rows and a join with the previous state; then only the changes travel.
    """
    t_start = time.perf_counter()
    run_id, writes = _prepared(tables, result, graph, config, run_id, batch_size)
    state = sync_state(writes, run_id)
    prog = _Progress(progress)
    with _Target(target, database) as t:
        report = SyncReport(run_id=run_id, database=t.database, uri=t.uri,
                            batch_size=batch_size)
        marker = _retrying(lambda: _marker(t), max_retries, lambda: None, t)
        if full:
            mode, note = "full", "--full asked for"
        elif previous is None:
            mode, note = "full", "no sync state on this machine"
        elif len(marker) != 1 or marker[0] != (previous.run_id, previous.digest):
            mode, note = "full", ("the database holds no record of a sync" if not marker else
                                  "the database does not hold the state synced last")
        else:
            mode, note = "incremental", f"changes since run {previous.run_id}"
        if mode == "incremental":
            try:
                send, gone = _diff(state, previous)
            except ValueError as exc:
                mode, note = "full", str(exc)
        report.mode, report.note = mode, note
        if mode == "incremental":
            report.prepare_seconds = time.perf_counter() - t_start
            _begin(t, report, int(send.sum()) + len(gone), max_retries, prog)
            _incremental(t, report, writes, send, gone, max_retries, prog, prune)
        else:
            report.prepare_seconds = time.perf_counter() - t_start
            _begin(t, report, sum(len(w) for w in writes), max_retries, prog)
            _write_all(t, report, writes, max_retries, prog, prune)
        _set_marker(t, state, max_retries)
    return _finish(report, t_start, prog), state

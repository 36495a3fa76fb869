"""A flag run as files for ``neo4j-admin database import full``: the first load of a big run.

The MERGE sync writes about 9,000 rows/s into an empty database (docs/neo4j.md), so
a 1,000,000-account run takes hours; the offline importer writes the store directly.
:func:`export_bulk` writes the same graph the sync writes (labels, relationship types
and properties of :mod:`~ringfence.graph.neo4j.rows`, identifier values in clear as in
the database, the run's masks in ``reasons`` and ``evidence``) as one header file and
one data file (gzip) per label and per relationship type, in one id space per label.

The tables come from the sync's own ``_prepare``, column by column through Arrow: no
Python loop over rows. Every string is quoted (``"`` doubled inside), so quotes,
commas, semicolons and newlines in ids and values stay data; an empty string is
``""`` and a missing value an empty field, which the importer reads as no property,
as the sync's ``SET n = row.props`` does with a null. Timestamps the sync stores
with ``datetime()`` are ``:datetime`` (ISO 8601 with ``Z``), other columns
``:long``, ``:double`` (the driver sends 64-bit floats), ``:boolean`` or ``:string``,
and ``USES.seen_at`` a ``datetime[]`` joined with ``;``.
"""

from __future__ import annotations

import gzip
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ringfence.graph.atomic import atomic_directory
from ringfence.graph.cpus import thread_budget
from ringfence.graph.neo4j.incremental import sync_state
from ringfence.graph.neo4j.names import GENERIC_IDENTIFIER, SYNC_LABEL
from ringfence.graph.neo4j.rows import _iso, _outputs, _prepare, _Write, default_run_id
from ringfence.graph.tables import Tables

__all__ = ["BulkExport", "STATE_FILE", "export_bulk"]

#: the sync state of the exported run, in the export folder (see incremental.py)
STATE_FILE = "sync-state.parquet"


@dataclass
class BulkExport:
    """What :func:`export_bulk` wrote: file groups per label/type, rows, the command.

    ``nodes`` and ``relationships`` map a group name (a label, a relationship type,
    ``USES-Device``, ...) to its files relative to ``directory``: the header file
    first, then the data file.
    """

    directory: Path
    run_id: str
    nodes: dict[str, list[str]] = field(default_factory=dict)
    relationships: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    multiline: bool = False
    seconds: float = 0.0
    #: of ``seconds``: the sync's rows as tables and their state hashes; then the files
    prepare_seconds: float = 0.0
    write_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def command(self, database: str = "neo4j") -> str:
        """The ``neo4j-admin`` command that imports these files, run from ``directory``
        (Neo4j 5.19+ wants the database name before the options)."""
        parts = ["neo4j-admin database import full", database]
        parts += [f"--nodes={','.join(f)}" for f in self.nodes.values()]
        parts += [f"--relationships={','.join(f)}" for f in self.relationships.values()]
        if self.multiline:
            parts.append("--multiline-fields=true")
        return " ".join(parts)


def _text(values: Any) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string(), from_pandas=True)


def _typed(col: pd.Series) -> tuple[Any, str]:
    """A property column as an Arrow array and its importer type, valued as
    ``rows._py`` sends it (so a datetime attribute is the ISO text the sync stores)."""
    import pyarrow as pa

    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col):
        return _text(_iso(col)), "string"
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return pa.array(col.to_numpy(bool)), "boolean"
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return pa.array(col.to_numpy("int64")), "long"
    if pd.api.types.is_float_dtype(col):
        v = col.to_numpy(dtype="float64", na_value=np.nan)
        return pa.array(v, mask=~np.isfinite(v)), "double"
    kind = pd.api.types.infer_dtype(col, skipna=True)
    obj = col.astype(object).where(col.notna(), None)
    if kind == "boolean":
        return pa.array(obj.tolist(), type=pa.bool_()), "boolean"
    if kind == "integer":
        return pa.array(obj.tolist(), type=pa.int64()), "long"
    if kind in ("floating", "mixed-integer-float"):
        return _typed(pd.to_numeric(col, errors="coerce").astype("float64"))
    if kind in ("string", "empty"):
        return _text(obj), "string"
    return _text(obj.map(str, na_action="ignore")), "string"


def _times(col: pd.Series) -> tuple[Any, str]:
    return _text(_iso(col)), "datetime"


def _identifier_id(frame: pd.DataFrame, label: str) -> pd.Series:
    """The node id of an identifier in its label's id space: the value; ``kind:value``
    for ``:Identifier`` (kinds are tokens without ``:``, so the pair is recoverable)."""
    value = frame["value"].astype(str)
    return value if label != GENERIC_IDENTIFIER else frame["kind"].astype(str) + ":" + value


class _Files:
    """Header and data files of the export, and the importer's arguments for them."""

    def __init__(self, tmp: Path, result: BulkExport, compress: bool, pool: Executor):
        self.tmp, self.result, self.compress, self.pool = tmp, result, compress, pool
        self.pending: list[Future] = []
        (tmp / "nodes").mkdir()
        (tmp / "relationships").mkdir()

    def wait(self) -> None:
        """Every data file written (raises the first failure)."""
        for f in self.pending:
            f.result()

    def write(self, kind: str, group: str, columns: list[tuple[str, Any, str]]) -> None:
        """``columns``: (header field, Arrow array or None, importer type or '')."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        header = [name + (f":{t}" if t else "") for name, _, t in columns]
        table = pa.table({str(i): a for i, (_, a, _) in enumerate(columns)})
        for a in table.columns:
            if pa.types.is_string(a.type) and not self.result.multiline:
                self.result.multiline = bool(pc.any(pc.match_substring_regex(
                    a, r"[\r\n]")).as_py())
        sub = "nodes" if kind == "node" else "relationships"
        stem = f"{sub}/{group}"
        head = f"{stem}.header.csv"
        data = f"{stem}.csv.gz" if self.compress else f"{stem}.csv"
        with open(self.tmp / head, "wb") as f:
            pacsv.write_csv(pa.table({h: pa.array([], pa.string()) for h in header}), f)
        self.pending.append(self.pool.submit(_write_data, table, self.tmp / data,
                                             self.compress))
        while len(self.pending) > 2 * thread_budget():   # bound the tables held in memory
            self.pending.pop(0).result()
        target = self.result.nodes if kind == "node" else self.result.relationships
        if group in target:
            raise ValueError(f"two file groups named {group!r}")
        target[group] = [head, data]
        self.result.counts[group] = table.num_rows


def _write_data(table: Any, path: Path, compress: bool) -> None:
    """One data file (in a pool thread: Arrow's CSV writer and zlib release the GIL)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(include_header=False)
    if not compress:
        with open(path, "wb") as f:
            pacsv.write_csv(table, f, opts)
        return
    # zlib level 1 in chunks: Arrow's gzip stream compresses at level 9, 8x slower for
    # files 8 % smaller
    with gzip.open(path, "wb", compresslevel=1) as f:
        for batch in table.to_batches(max_chunksize=1 << 16):
            buf = pa.BufferOutputStream()
            pacsv.write_csv(pa.Table.from_batches([batch], table.schema), buf, opts)
            f.write(buf.getvalue())


def _constant(value: str, n: int) -> Any:
    import pyarrow as pa

    return pa.repeat(pa.scalar(value, pa.string()), n) if n else pa.array([], pa.string())


def _props(w: _Write, skip: tuple[str, ...] = ()) -> list[tuple[str, Any, str]]:
    """The ``row.props`` of a write as typed columns, ``run_id`` included."""
    bad = [name for name, _ in w.props if ":" in name]
    if bad:
        raise ValueError(f"cannot write property names with ':' into an import header: "
                         f"{bad[:5]!r} (rename the input column)")
    cols = [(name, *_typed(w.frame[c])) for name, c in w.props if name not in skip]
    cols += [(name, _constant(v, len(w)), "string") for name, v in w.const.items()]
    return cols


def _export(files: _Files, writes: list[_Write], run_id: str) -> None:
    """Each step's writes (the sync's queries, read as a schema) as node and relationship
    files. Edge writes of one type (split by which end the MERGE writes first) are
    concatenated: the files always go from ``src`` to ``dst``."""
    by_name: dict[str, list[_Write]] = {}
    for w in writes:
        by_name.setdefault(w.name, []).append(w)
    for name, group in by_name.items():
        w = group[0] if len(group) == 1 else _Write(
            group[0].name, group[0].query,
            pd.concat([g.frame for g in group], ignore_index=True), group[0].top,
            group[0].key, group[0].props, group[0].const)
        step, _, sub = name.partition(":")
        f = w.frame
        run = [("run_id", _constant(run_id, len(w)), "string")]
        if step == "accounts":
            files.write("node", "Account", [
                ("account_id:ID(Account)", _text(f["account_id"]), ""),
                *_props(w, skip=("account_id",)), ("created_at", *_times(f["~created_at"])),
                (":LABEL", _constant("Account", len(w)), "")])
        elif step == "identifiers":
            ident = _identifier_id(f, sub)
            idcol = (f"value:ID({sub})" if sub != GENERIC_IDENTIFIER else f":ID({sub})")
            files.write("node", sub, [
                (idcol, _text(ident), ""),
                *_props(w, skip=("value",) if sub != GENERIC_IDENTIFIER else ()),
                ("first_seen", *_times(f["first_seen"])), ("last_seen", *_times(f["last_seen"])),
                (":LABEL", _constant(sub, len(w)), "")])
        elif step == "uses":
            import pyarrow as pa
            import pyarrow.compute as pc

            seen = pc.binary_join(pa.array(f["seen_at"].tolist(), pa.list_(pa.string())), ";")
            files.write("relationship", f"USES-{sub}", [
                (":START_ID(Account)", _text(f["account_id"]), ""),
                (f":END_ID({sub})", _text(_identifier_id(f, sub)), ""),
                ("count", *_typed(f["count"])), ("seen_at", seen, "datetime[]"),
                ("first_seen", *_times(f["first_seen"])), ("last_seen", *_times(f["last_seen"])),
                *run, (":TYPE", _constant("USES", len(w)), "")])
        elif step == "edges":
            files.write("relationship", sub, [
                (":START_ID(Account)", _text(f["src"]), ""),
                (":END_ID(Account)", _text(f["dst"]), ""),
                *_props(w), ("at", *_times(f["at"])), (":TYPE", _constant(sub, len(w)), "")])
        elif step == "enforcement":
            files.write("node", "Enforcement", [
                ("enforcement_id:ID(Enforcement)", _text(f["enforcement_id"]), ""),
                *_props(w, skip=("enforcement_id",)), ("at", *_times(f["at"])),
                (":LABEL", _constant("Enforcement", len(w)), "")])
            files.write("relationship", "HAS_ENFORCEMENT", [
                (":START_ID(Account)", _text(f["account_id"]), ""),
                (":END_ID(Enforcement)", _text(f["enforcement_id"]), ""), *run,
                (":TYPE", _constant("HAS_ENFORCEMENT", len(w)), "")])
        elif step == "clusters":
            # cluster_id stays a long property: an id column would store it as text
            files.write("node", "Cluster", [
                (":ID(Cluster)", _text(f["~cluster_id"].astype(str)), ""), *_props(w),
                *((t, *_times(f[c])) for t, c in w.top if t != "cluster_id"),
                (":LABEL", _constant("Cluster", len(w)), "")])
        elif step == "in_cluster":
            files.write("relationship", "IN_CLUSTER", [
                (":START_ID(Account)", _text(f["account_id"]), ""),
                (":END_ID(Cluster)", _text(f["cluster_id"].astype(str)), ""), *run,
                (":TYPE", _constant("IN_CLUSTER", len(w)), "")])
        elif step == "same_actor":
            files.write("relationship", "SAME_ACTOR", [
                (":START_ID(Account)", _text(f["a"]), ""),
                (":END_ID(Account)", _text(f["b"]), ""), *_props(w),
                (":TYPE", _constant("SAME_ACTOR", len(w)), "")])
        else:  # a step added to rows.py must say how it is exported
            raise AssertionError(f"no bulk layout for the sync step {name!r}")


def export_bulk(tables: Tables, result: Any, out_dir: str, *, graph=None,
                run_id: str | None = None, compress: bool = True) -> BulkExport:
    """Write a flag run as ``neo4j-admin database import full`` files into ``out_dir``.

    The graph is the one :func:`~ringfence.graph.neo4j.sync_to_neo4j` writes (the
    same rows, so the same nodes, relationships and properties), stamped with the
    same ``run_id``, with the ``RingfenceSync`` node and the sync state
    (``sync-state.parquet``) of :mod:`~ringfence.graph.neo4j.incremental`, so the
    next sync of the imported database can send only what changed. ``out_dir`` is replaced atomically (a temporary folder, then one
    switch): a failed export leaves the previous one. Cost: O(rows), written column by
    column through Arrow; about the size of the run's input files, gzip-compressed.

    Parameters
    ----------
    tables, result, graph
        As for :func:`~ringfence.graph.neo4j.sync_to_neo4j` (``graph`` gives the
        identifiers' linking weights; taken from a FlagResult).
    run_id
        Default :func:`~ringfence.graph.neo4j.default_run_id`.
    compress
        Gzip the data files (the importer reads ``.csv.gz``).

    Returns
    -------
    BulkExport
        The file groups, rows per group, and :meth:`BulkExport.command`.

    Examples
    --------
    >>> import tempfile
    >>> from ringfence.graph import load_tables
    >>> t = load_tables(pd.DataFrame({"account_id": ["a1", "a2"]}), identifiers=pd.DataFrame(
    ...     {"account_id": ["a1", "a2"], "kind": "device", "value": "d9"}))
    >>> scores = pd.DataFrame({"account_id": ["a1", "a2"], "score": [0.9, 0.1],
    ...                        "cluster_id": [-1, -1]})
    >>> run = {"scores": scores, "links": pd.DataFrame(), "clusters": pd.DataFrame()}
    >>> out = export_bulk(t, run, tempfile.mkdtemp() + "/bulk")
    >>> out.counts
    {'Account': 2, 'Device': 1, 'USES-Device': 2, 'RingfenceSync': 1}
    >>> out.nodes["Account"]
    ['nodes/Account.header.csv', 'nodes/Account.csv.gz']
    >>> out.command().startswith("neo4j-admin database import full neo4j --nodes=")
    True
    """
    t0 = time.perf_counter()
    outputs: Mapping[str, pd.DataFrame] = _outputs(result)
    if graph is None:
        graph = getattr(result, "graph", None)
    run_id = run_id or default_run_id(tables, outputs)
    writes = _prepare(tables, outputs, graph, run_id)
    export = BulkExport(directory=Path(out_dir), run_id=run_id)
    state = sync_state(writes, run_id)
    export.prepare_seconds = time.perf_counter() - t0
    with atomic_directory(out_dir) as tmp, \
            ThreadPoolExecutor(max_workers=thread_budget()) as pool:
        files = _Files(tmp, export, compress, pool)
        _export(files, writes, run_id)
        # the sync's record of what the database holds, so that the first nightly sync
        # after the import sends only changes (ringfence neo4j sync --state DIR/sync-state...)
        files.write("node", SYNC_LABEL, [
            ("name:ID(RingfenceSync)", _text(["ringfence"]), ""),
            ("run_id", _text([run_id]), "string"),
            ("state_digest", _text([state.digest]), "string"),
            ("rows", *_typed(pd.Series([len(state.table)]))),
            (":LABEL", _text([SYNC_LABEL]), "")])
        state.write(tmp / STATE_FILE)
        files.wait()
    export.seconds = time.perf_counter() - t0
    export.write_seconds = export.seconds - export.prepare_seconds
    return export

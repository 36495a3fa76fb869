"""Reading the four input tables back out of Neo4j, and writing them to files.

:func:`load_from_neo4j` reads what the sync wrote (or a team's own graph in the same
shape) and validates it with :func:`~ringfence.graph.tables.load_tables`;
:func:`write_tables` writes those tables in the input contract, atomically.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.graph.atomic import atomic_directory
from ringfence.graph.neo4j.connection import _read, _Target
from ringfence.graph.neo4j.names import ATTR_PREFIX, RESERVED_ACCOUNT_PROPS
from ringfence.graph.neo4j.rows import _iso
from ringfence.graph.tables import TABLES, InputWarning, Tables, load_tables

__all__ = ["load_from_neo4j", "write_tables"]

# attributes filtered on the server: no decoding of the run's long texts and timestamps
ACCOUNTS_QUERY = ("MATCH (a:Account) RETURN a.account_id, toString(a.created_at), "
                  "[k IN keys(a) WHERE NOT k IN $skip | [k, a[k]]]")
IDENTIFIERS_QUERY = (
    "MATCH (a:Account)-[u:USES]->(i) WHERE i.value IS NOT NULL "
    "RETURN a.account_id, coalesce(i.kind, toLower(head(labels(i)))), i.value, u.count, "
    "toString(u.first_seen), "
    "toString(u.last_seen), [x IN u.seen_at | toString(x)]")
EDGES_QUERY = (
    "MATCH (a:Account)-[r]->(b:Account) WHERE type(r) <> 'SAME_ACTOR' "
    "RETURN a.account_id, b.account_id, coalesce(r.kind, toLower(type(r))), r.weight, "
    "toString(r.at), r.amount")
ENFORCEMENT_QUERY = (
    "MATCH (a:Account)-[:HAS_ENFORCEMENT]->(e:Enforcement) "
    "RETURN a.account_id, e.action, toString(e.at), e.reason")


def _attribute_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return json.dumps([_attribute_value(x) for x in v], default=str)
    iso = getattr(v, "iso_format", None)
    return iso() if callable(iso) else str(v)


def load_from_neo4j(target=None, *, database: str | None = None) -> Tables:
    """The four input tables, read out of Neo4j and validated by :func:`graph.load_tables`.

    Reads ``(:Account {account_id, created_at, <attributes>})``; identifiers from
    ``(:Account)-[:USES]->(:Identifier {kind, value})`` (one row per observation when
    the relationship has ``seen_at`` as the sync writes it, else one row at
    ``first_seen`` and one at ``last_seen``); edges from every other
    Account-to-Account relationship except ``SAME_ACTOR`` (kind = its ``kind``
    property, else the lower-cased type); enforcement from
    ``(:Account)-[:HAS_ENFORCEMENT]->(:Enforcement {action, at, reason})``. Account
    properties the sync derives (score, rank, flagged, ...) are not attributes.
    """
    with _Target(target, database) as t:
        acc = _read(t, ACCOUNTS_QUERY, skip=list(RESERVED_ACCOUNT_PROPS))
        ids = _read(t, IDENTIFIERS_QUERY)
        edges = _read(t, EDGES_QUERY)
        enf = _read(t, ENFORCEMENT_QUERY)
        label = f"neo4j {t.uri} database {t.database or '(default)'}"

    skip = set(RESERVED_ACCOUNT_PROPS)
    attrs: list[dict] = []
    for _, _, props in acc:
        row = {}
        for k, v in props:
            if k.startswith(ATTR_PREFIX) and (k[len(ATTR_PREFIX):] in skip
                                              or k[len(ATTR_PREFIX):].startswith(ATTR_PREFIX)):
                k = k[len(ATTR_PREFIX):]
            row[k] = _attribute_value(v)
        attrs.append(row)
    names = sorted({k for r in attrs for k in r})
    accounts = pd.DataFrame({"account_id": [r[0] for r in acc],
                             "created_at": [r[1] for r in acc]})
    for n in names:
        accounts[n] = pd.Series([r.get(n) for r in attrs], dtype=object).infer_objects()
        if accounts[n].dtype == object and accounts[n].map(
                lambda x: x is None or isinstance(x, (int, float))).all():
            accounts[n] = pd.to_numeric(accounts[n])
    if accounts["created_at"].isna().all():
        accounts = accounts.drop(columns="created_at")

    identifiers = None
    if ids:
        a_col, k_col, v_col, t_col = [], [], [], []
        for acct, kind, value, count, first, last, seen in ids:
            if seen is not None:
                times: list = list(seen)
                if count is not None and count > len(times):
                    times.append(None)          # an observation without a time
                if not times:
                    times = [None]
            else:
                times = [first] if first == last else [first, last]
            n = len(times)
            a_col += [acct] * n
            k_col += [kind] * n
            v_col += [None if value is None else str(value)] * n
            t_col += times
        identifiers = pd.DataFrame({"account_id": a_col, "kind": k_col, "value": v_col,
                                    "seen_at": t_col})
    edge_df = None
    if edges:
        edge_df = pd.DataFrame(edges, columns=["src", "dst", "kind", "weight", "at", "amount"])
    enf_df = None
    if enf:
        enf_df = pd.DataFrame(enf, columns=["account_id", "action", "at", "reason"])
    # an optional column missing on every row was not in the input: leave it out
    for name, df in (("identifiers", identifiers), ("edges", edge_df), ("enforcement", enf_df)):
        if df is None:
            continue
        for col in TABLES[name]["optional"]:
            if col in df.columns and (col != "weight") and df[col].map(
                    lambda v: v is None or v == "" or (isinstance(v, float) and v != v)).all():
                del df[col]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        tables = load_tables(accounts, identifiers=identifiers, edges=edge_df,
                             enforcement=enf_df)
    tables.sources = {name: f"{label}: {name}" for name in tables.sources}
    return tables


def _write_table(df: pd.DataFrame, path: Path, fmt: str) -> None:
    """One table as parquet, or as gzip csv with ISO 8601 UTC timestamps (the contract's
    text form; ``mtime: 0`` so the same table gives the same bytes)."""
    if fmt == "parquet":
        df.to_parquet(path, index=False)
        return
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = pd.Series(_iso(out[c]), index=out.index, dtype=object)
    out.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})


def write_tables(tables: Tables, out_dir: str | Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables in the input contract into ``out_dir``, atomically.

    Parameters
    ----------
    tables
        Validated tables, e.g. from :func:`load_from_neo4j`.
    out_dir
        The folder; it is replaced whole (:func:`~ringfence.graph.atomic.atomic_directory`),
        so readers never see half an export.
    fmt
        ``csv`` (gzip, ``<name>.csv.gz``, ISO 8601 UTC timestamps) or ``parquet``.

    Returns
    -------
    dict
        Table name -> the file written (tables that are ``None`` are left out).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ringfence.graph import load_tables
    >>> t = load_tables(pd.DataFrame({"account_id": ["a", "b"]}))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "export"
    >>> sorted(p.name for p in write_tables(t, out).values())
    ['accounts.csv.gz']
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")
    suffix = ".parquet" if fmt == "parquet" else ".csv.gz"
    written: dict[str, str] = {}
    with atomic_directory(out_dir) as tmp:
        for name in TABLES:
            if tables[name] is not None:
                _write_table(tables[name], tmp / f"{name}{suffix}", fmt)
                written[name] = f"{name}{suffix}"
    out_dir = Path(out_dir)
    return {name: out_dir / fname for name, fname in written.items()}

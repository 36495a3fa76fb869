"""Helpers shared by the Neo4j tests: syncing a flag run and comparing what comes back.

Imported as ``neo4j_helpers`` (``pythonpath = ["tests"]`` in pyproject.toml).
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from ringfence.graph.masking import Masker
from ringfence.graph.neo4j import sync_to_neo4j
from ringfence.graph.tables import Tables
from ringfence.jobs.flag import run_flag

MASK_KEY = b"ringfence-tests"


def flag(tables: Tables, **kwargs):
    kwargs.setdefault("scorer", "propagation")
    return run_flag(tables, masker=Masker(MASK_KEY), **kwargs)


def sync(settings, tables, result, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("batch_size", 2000)
    return sync_to_neo4j(settings, tables, result, **kwargs)


def frame(tables: Tables, name: str) -> pd.DataFrame:
    """A table in a comparable form: categories as strings, columns and rows sorted."""
    df = tables[name].copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype) or df[c].dtype == object \
                or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].astype(object).where(df[c].notna(), None).astype(str)
    first = [c for c in ("account_id", "src", "dst") if c in df.columns]
    df = df[first + sorted(c for c in df.columns if c not in first)]
    return df.sort_values(list(df.columns), na_position="last").reset_index(drop=True)


def assert_same_tables(a: Tables, b: Tables) -> None:
    for name in ("accounts", "identifiers", "edges", "enforcement"):
        if a[name] is None:
            assert b[name] is None, name
            continue
        pd.testing.assert_frame_equal(frame(a, name), frame(b, name), check_dtype=True,
                                      obj=name)


NODE_KEY = "[labels({v}), {v}.account_id, {v}.kind, {v}.value, {v}.cluster_id, {v}.enforcement_id]"
# every property as text, made on the server (the driver decodes temporal values slowly);
# seen_at (on USES) is the only list property the sync writes
PROPS = ("[k IN keys({v}) WHERE k <> 'seen_at' | k + '=' + toString({v}[k])] + "
         "[x IN coalesce({v}.seen_at, []) | 'seen_at=' + toString(x)]")


def snapshot(db) -> tuple[Counter, Counter]:
    """Every node and relationship with all its properties, as multisets."""
    def canon(props: list[str]) -> tuple:   # key order may vary; seen_at order may not
        return tuple(sorted(p for p in props if not p.startswith("seen_at="))) + tuple(
            p for p in props if p.startswith("seen_at="))

    nodes = Counter()
    for labels, props in db(f"MATCH (n) RETURN labels(n), {PROPS.format(v='n')}"):
        nodes[(frozenset(labels), canon(props))] += 1
    rels = Counter()
    for t, a, b, props in db(f"MATCH (a)-[r]->(b) RETURN type(r), {NODE_KEY.format(v='a')}, "
                             f"{NODE_KEY.format(v='b')}, {PROPS.format(v='r')}"):
        rels[(t, str(a), str(b), canon(props))] += 1
    return nodes, rels


def count(db, pattern: str) -> int:
    return db(f"MATCH {pattern} RETURN count(*)")[0][0]

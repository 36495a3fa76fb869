"""The bulk export (``neo4j-admin database import`` files): read back, it is the graph the
MERGE sync writes, row for row. No server needed: the files are parsed with pyarrow
(which, unlike the csv module, tells a quoted empty string from a missing value)."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from neo4j_helpers import flag

from ringfence.graph import load_tables
from ringfence.graph.neo4j.bulk import STATE_FILE, export_bulk
from ringfence.graph.neo4j.incremental import SyncState, sync_state
from ringfence.graph.neo4j.rows import _outputs, _prepare, default_run_id

ID_PROPS = {"Account": "account_id", "Enforcement": "enforcement_id", "Cluster": "cluster_id",
            "Identifier": ("kind", "value"), "RingfenceSync": "name"}


def _identity(label: str, props: dict):
    key = ID_PROPS.get(label, "value")
    return (label, tuple(props[k] for k in key) if isinstance(key, tuple) else props[key])


def _frozen(props: dict) -> frozenset:
    return frozenset((k, tuple(v) if isinstance(v, list) else v) for k, v in props.items()
                     if v is not None)


def expected_graph(tables, result, graph=None):
    """What the MERGE sync's queries store, from the rows it sends (rows.py): nodes by
    (label, key) -> properties, relationships as a multiset. Reads each query's shape."""
    outputs = _outputs(result)
    run_id = default_run_id(tables, outputs)
    nodes: dict = {}
    rels: Counter = Counter()
    acc = lambda a: ("Account", a)  # noqa: E731
    for w in _prepare(tables, outputs, graph if graph is not None else result.graph, run_id):
        step, _, sub = w.name.partition(":")
        for row in w.rows():
            if step == "accounts":
                nodes[acc(row["account_id"])] = {**row["props"], "created_at": row["created_at"]}
            elif step == "identifiers":
                p = {**row["props"], "first_seen": row["first_seen"],
                     "last_seen": row["last_seen"]}
                nodes[_identity(sub, p)] = p
            elif step == "uses":
                end = _identity(sub, row)
                rels[("USES", acc(row["account_id"]), end, _frozen(
                    {k: row[k] for k in ("count", "seen_at", "first_seen", "last_seen")}
                    | {"run_id": run_id}))] += 1
            elif step == "edges":
                rels[(sub, acc(row["src"]), acc(row["dst"]),
                      _frozen({**row["props"], "at": row["at"]}))] += 1
            elif step == "enforcement":
                nodes[("Enforcement", row["enforcement_id"])] = {**row["props"], "at": row["at"]}
                rels[("HAS_ENFORCEMENT", acc(row["account_id"]),
                      ("Enforcement", row["enforcement_id"]), _frozen({"run_id": run_id}))] += 1
            elif step == "clusters":
                nodes[("Cluster", row["cluster_id"])] = {
                    **row["props"], **{k: v for k, v in row.items() if k not in ("props",
                                                                               "cluster_id")}}
            elif step == "in_cluster":
                rels[("IN_CLUSTER", acc(row["account_id"]), ("Cluster", row["cluster_id"]),
                      _frozen({"run_id": run_id}))] += 1
            elif step == "same_actor":
                rels[("SAME_ACTOR", acc(row["a"]), acc(row["b"]), _frozen(row["props"]))] += 1
            else:
                raise AssertionError(step)
    # and the sync's record, as sync_changes leaves it
    state = sync_state(_prepare(tables, outputs, graph if graph is not None else result.graph,
                                run_id), run_id)
    nodes[("RingfenceSync", "ringfence")] = {"name": "ringfence", "run_id": run_id,
                                             "state_digest": state.digest,
                                             "rows": len(state.table)}
    return {k: _frozen(v) for k, v in nodes.items()}, rels


def _convert(value, kind: str):
    if value is None:
        return None
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "boolean":
        assert value in ("true", "false"), value
        return value == "true"
    if kind.endswith("[]"):
        return value.split(";") if value else []
    return value


def _read(directory: Path, head: str, data: str) -> tuple[list[str], list[list]]:
    header = (directory / head).read_text(encoding="utf-8").rstrip("\n")
    names = pacsv.read_csv(pa.BufferReader(header.encode() + b"\n")).column_names
    opts = pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(names))])
    conv = pacsv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(len(names))},
                                strings_can_be_null=True, quoted_strings_can_be_null=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    with (gzip.open if data.endswith(".gz") else open)(directory / data, "rb") as f:
        table = pacsv.read_csv(f, read_options=opts, convert_options=conv, parse_options=parse)
    return names, [table.column(i).to_pylist() for i in range(len(names))]


def read_back(export):
    """The export's files as nodes and relationships, the way the importer reads them."""
    d = export.directory
    ids: dict = {}
    nodes: dict = {}
    for group, (head, data) in export.nodes.items():
        names, cols = _read(d, head, data)
        for values in zip(*cols):
            props, space, node_id, label = {}, None, None, None
            for name, v in zip(names, values):
                field, _, kind = name.partition(":")
                if kind.startswith("ID("):
                    space, node_id = kind[3:-1], v
                    if field:
                        props[field] = v
                elif kind == "LABEL":
                    label = v
                elif v is not None:
                    props[field] = _convert(v, kind or "string")
            assert label == space == group
            key = _identity(label, props)
            assert (space, node_id) not in ids, "duplicate id in an id space"
            ids[(space, node_id)] = key
            assert key not in nodes
            nodes[key] = _frozen(props)
    rels: Counter = Counter()
    for group, (head, data) in export.relationships.items():
        names, cols = _read(d, head, data)
        for values in zip(*cols):
            props, start, end, rtype = {}, None, None, None
            for name, v in zip(names, values):
                field, _, kind = name.partition(":")
                if kind.startswith("START_ID("):
                    start = ids[(kind[9:-1], v)]
                elif kind.startswith("END_ID("):
                    end = ids[(kind[7:-1], v)]
                elif kind == "TYPE":
                    rtype = v
                elif v is not None:
                    props[field] = _convert(v, kind or "string")
            rels[(rtype, start, end, _frozen(props))] += 1
    return nodes, rels


@pytest.mark.slow
def test_the_files_are_the_graph_the_sync_writes(platform, tmp_path):
    tables, result = platform
    export = export_bulk(tables, result, tmp_path / "bulk")
    nodes, rels = read_back(export)
    want_nodes, want_rels = expected_graph(tables, result)
    assert nodes == want_nodes
    assert rels == want_rels
    assert export.counts["Account"] == 1000 and export.rows == len(nodes) + sum(rels.values())
    kept = SyncState.read(tmp_path / "bulk" / STATE_FILE)
    assert dict(nodes[("RingfenceSync", "ringfence")])["state_digest"] == kept.digest
    # shared-environment links are evidence, not one actor: only same-actor links are exported
    same_actor = int((result.links["link_kind"] == "same_actor").sum())
    assert 0 < same_actor < len(result.links) and export.counts["SAME_ACTOR"] == same_actor
    # typed headers, one id space per label
    head = (tmp_path / "bulk" / export.nodes["Account"][0]).read_text()
    for field in ('"account_id:ID(Account)"', '"score:double"', '"flagged:boolean"',
                  '"created_at:datetime"', '":LABEL"'):
        assert field in head
    uses = (tmp_path / "bulk" / export.relationships["USES-Device"][0]).read_text()
    assert '":END_ID(Device)"' in uses and '"seen_at:datetime[]"' in uses
    cmd = export.command()
    assert cmd.startswith("neo4j-admin database import full neo4j ")
    assert "--nodes=nodes/Account.header.csv,nodes/Account.csv.gz" in cmd
    assert "--multiline-fields" not in cmd
    assert cmd.count("--relationships=") == len(export.relationships)


def test_hostile_values_survive_the_csv(tmp_path):
    hostile = ['dq"uote', "com,ma", "semi;colon", "x'}) DETACH DELETE n //", "back`tick",
               "uni\u00e9\u4e2d\U0001F600", " lead", "trail ", '""', "=SUM(A1)"]
    accounts = pd.DataFrame({"account_id": hostile,
                             "note": ["line\nbreak", "", None, 'a"b', "c;d", "e,f", "\r",
                                      "x", "y", "z"],
                             "weird`col": range(len(hostile))})
    ids = pd.DataFrame({"account_id": hostile, "kind": ["device"] * 5 + ["loyalty_card"] * 5,
                        "value": ['v"1', "v,2", "v;3", "v:4", "v 5"] * 2,
                        "seen_at": "2026-01-01T00:00:00Z"})
    edges = pd.DataFrame({"src": hostile[:-1], "dst": hostile[1:], "kind": "transfer",
                          "amount": 1.5})
    enf = pd.DataFrame({"account_id": [hostile[0]], "action": ["ban"], "reason": ['r"; x']})
    tables = load_tables(accounts, identifiers=ids, edges=edges, enforcement=enf)
    result = flag(tables)
    export = export_bulk(tables, result, tmp_path / "bulk", compress=False)
    nodes, rels = read_back(export)
    want_nodes, want_rels = expected_graph(tables, result)
    assert nodes == want_nodes and rels == want_rels
    got = {k[1] for k in nodes if k[0] == "Account"}
    assert got == set(tables.accounts["account_id"].astype(str)) and len(got) == len(hostile)
    # kinds without a label of their own: (:Identifier {kind, value}) keyed kind:value
    assert ("Identifier", ("loyalty_card", 'v"1')) in nodes
    # the empty note is an empty string, the missing one no property at all
    props = {k[1]: dict(v) for k, v in nodes.items() if k[0] == "Account"}
    assert props["com,ma"]["note"] == "" and "note" not in props["semi;colon"]
    assert props[hostile[0]]["note"] == "line\nbreak"
    assert "--multiline-fields=true" in export.command()


@pytest.mark.slow
def test_export_is_atomic_and_refuses_headers_it_cannot_write(platform, tmp_path):
    tables, result = platform
    out = tmp_path / "bulk"
    first = export_bulk(tables, result, out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tables.accounts.assign(**{"a:b": 1})
    bad_tables = load_tables(bad, identifiers=tables.identifiers, edges=tables.edges,
                             enforcement=tables.enforcement)
    with pytest.raises(ValueError, match="'a:b'"):
        export_bulk(bad_tables, result, out)
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and first.rows > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bulk"]

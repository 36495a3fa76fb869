"""Reading the input tables back out of Neo4j, and writing them to files."""

from __future__ import annotations

import pandas as pd
import pytest
from neo4j_helpers import assert_same_tables, flag, frame

from ringfence.graph import load_tables
from ringfence.graph.neo4j import load_from_neo4j, write_tables


@pytest.mark.neo4j
def test_load_from_a_graph_ringfence_did_not_write(db, settings):
    """A team's own graph: USES without seen_at, typed edges without a kind property."""
    db("CREATE (a:Account {account_id: 'a', tier: 'gold', logins: 3, "
       "created_at: datetime('2025-01-01T00:00:00Z')}), "
       "(b:Account {account_id: 'b', tier: 'free'}), "
       "(c:Account {account_id: 'c'}), "
       "(d:Device {kind: 'device', value: 'D1'}), (x:Identifier {kind: 'wallet', value: 'W'}), "
       "(a)-[:USES {first_seen: datetime('2025-02-01T00:00:00Z'), "
       "last_seen: datetime('2025-03-01T00:00:00Z')}]->(d), "
       "(b)-[:USES]->(d), (c)-[:USES {last_seen: datetime('2025-04-01T00:00:00Z'), "
       "first_seen: datetime('2025-04-01T00:00:00Z')}]->(x), "
       "(a)-[:KNOWS {weight: 2.0}]->(b), (b)-[:SAME_ACTOR {weight: 1.0}]->(c), "
       "(e:Enforcement {action: 'ban', reason: 'fraud', at: datetime('2025-05-01T00:00:00Z')}), "
       "(c)-[:HAS_ENFORCEMENT]->(e)")
    t = load_from_neo4j(settings)
    assert sorted(t.accounts.columns) == ["account_id", "created_at", "logins", "tier"]
    ids = frame(t, "identifiers")
    assert ids[["account_id", "kind", "value"]].values.tolist() == [
        ["a", "device", "D1"], ["a", "device", "D1"], ["b", "device", "D1"],
        ["c", "wallet", "W"]]
    assert ids["seen_at"].isna().sum() == 1
    assert t.edges[["src", "dst"]].values.tolist() == [["a", "b"]]    # SAME_ACTOR is not input
    assert (t.edges["kind"].astype(str).tolist(), t.edges["weight"].tolist()) == (["knows"], [2.0])
    assert t.enforcement[["account_id", "action", "reason"]].values.tolist() == [
        ["c", "ban", "fraud"]]
    result = flag(t)
    assert result.scores.set_index("account_id").loc["c", "banned"]


def test_write_tables_round_trips_and_replaces_the_folder_whole(tmp_path, monkeypatch):
    from ringfence.graph.neo4j import load as load_module

    tables = load_tables(
        pd.DataFrame({"account_id": ["a", "b", "c"], "tier": ["gold", "free", None],
                      "created_at": ["2025-01-01T00:00:00Z", None, "2025-01-02T12:30:00Z"]}),
        identifiers=pd.DataFrame({"account_id": ["a", "b", "c"], "kind": "device",
                                  "value": ["D1", "D1", "D2"],
                                  "seen_at": ["2026-01-01T00:00:00.123456789Z", None,
                                              "2026-01-02T00:00:00Z"]}),
        edges=pd.DataFrame({"src": ["a"], "dst": ["b"], "kind": ["transfer"], "amount": [2.5],
                            "at": ["2026-01-03T00:00:00Z"]}),
        enforcement=pd.DataFrame({"account_id": ["c"], "action": ["ban"],
                                  "at": ["2026-01-04T00:00:00Z"], "reason": ["fraud"]}))
    for fmt, suffix in (("csv", ".csv.gz"), ("parquet", ".parquet")):
        out = tmp_path / f"export-{fmt}"
        written = write_tables(tables, out, fmt)
        assert {n: p.name for n, p in written.items()} == {
            n: n + suffix for n in ("accounts", "identifiers", "edges", "enforcement")}
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written.values())
        assert_same_tables(tables, load_tables(**{n: str(p) for n, p in written.items()}))
    only_accounts = load_tables(pd.DataFrame({"account_id": ["x"]}))
    assert list(write_tables(only_accounts, tmp_path / "export-csv")) == ["accounts"]
    assert [p.name for p in (tmp_path / "export-csv").iterdir()] == ["accounts.csv.gz"]

    # a failure half-way leaves the folder as it was, and no temporary folder behind
    calls = []

    def fail_second(df, path, fmt):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        path.write_text("partial")

    monkeypatch.setattr(load_module, "_write_table", fail_second)
    with pytest.raises(OSError, match="disk full"):
        write_tables(tables, tmp_path / "export-csv")
    assert [p.name for p in (tmp_path / "export-csv").iterdir()] == ["accounts.csv.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export-csv", "export-parquet"]
    with pytest.raises(ValueError, match="csv or parquet"):
        write_tables(tables, tmp_path / "x", "json")

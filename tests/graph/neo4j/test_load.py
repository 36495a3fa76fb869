"""Reading the input tables back out of Neo4j, and writing them to files."""

from __future__ import annotations

import pytest
from neo4j_helpers import flag, frame

from ringfence.graph.neo4j import load_from_neo4j


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


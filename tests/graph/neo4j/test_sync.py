"""The sync against a real Bolt server: what is written, idempotence, pruning, refusals.

The server is the session's ``bolt_server`` (tests/conftest.py): ArcadeDB from
``arcadedb-embedded``, or the Neo4j at ``NEO4J_URI``. Every test that writes
wipes the whole database first: never point ``NEO4J_URI`` at real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from neo4j_helpers import assert_same_tables, count, flag, snapshot, sync

from ringfence.graph import InputError, load_tables
from ringfence.graph.neo4j import default_run_id, load_from_neo4j
from ringfence.graph.synth import generate_platform
from ringfence.graph.tables import Tables

pytestmark = pytest.mark.neo4j


def test_round_trip_and_what_is_written(db, settings, platform, capsys):
    tables, result = platform
    report = sync(settings, tables, result, progress=True)
    err = capsys.readouterr().err
    assert "neo4j sync: accounts 1,000/1,000 rows" in err and "rows/s" in err
    assert "neo4j sync: uses " in err and " done" in err

    graph = result.graph
    n_ident = len(graph.identifiers)
    members = int((result.scores["cluster_id"] >= 0).sum())
    assert report.step("accounts").rows == 1000
    assert report.step("identifiers").rows == n_ident
    assert report.step("uses").rows == len(graph.uses)
    assert report.step("edges").rows == len(tables.edges)
    assert report.rows_per_s > 0 and report.run_id == default_run_id(
        tables, {n: getattr(result, n) for n in ("scores", "links", "clusters")})
    assert count(db, "(a:Account)") == 1000
    assert count(db, "(a:Account)-[:USES]->(i)") == len(graph.uses)
    assert count(db, "(i:Device)") == int((graph.identifiers["kind"] == "device").sum())
    assert count(db, "(i:IP)") == int((graph.identifiers["kind"] == "ip").sum())
    # shared_environment links are evidence, not one actor: no SAME_ACTOR relationship
    same = result.links[result.links["link_kind"] == "same_actor"]
    assert 0 < len(same) < len(result.links)
    assert count(db, "(:Account)-[:SAME_ACTOR]->(:Account)") == len(same)
    assert count(db, "(:Account)-[:IN_CLUSTER]->(:Cluster)") == members
    assert count(db, "(c:Cluster)") == len(result.clusters)
    assert count(db, "(:Account)-[:HAS_ENFORCEMENT]->(:Enforcement)") == len(tables.enforcement)
    assert count(db, "(:Account)-[:TRANSFER]->(:Account)") == int(
        (tables.edges["kind"] == "transfer").sum())
    # no node without its key (ArcadeDB would create them silently), no NaN anywhere
    assert count(db, "(a:Account) WHERE a.account_id IS NULL") == 0
    assert count(db, "()-[r]->() WHERE any(k IN keys(r) WHERE r[k] <> r[k])") == 0
    assert count(db, "(n) WHERE any(k IN keys(n) WHERE n[k] <> n[k])") == 0
    assert count(db, "(:Account)-[r:MESSAGE]->(:Account) WHERE r.amount IS NOT NULL") == 0

    # account properties are the scores table's
    rows = db("MATCH (a:Account) RETURN a.account_id, a.score, a.rank, a.flagged, a.cluster_id, "
              "a.identity_id, a.banned, a.cleared, a.reasons, a.run_id, a.percentile, "
              "a.decision, a.status_vs_previous")
    got = pd.DataFrame(rows, columns=["account_id", "score", "rank", "flagged", "cluster_id",
                                      "identity_id", "banned", "cleared", "reasons", "run_id",
                                      "percentile", "decision", "status_vs_previous"])
    want = result.scores.set_index("account_id")
    got = got.set_index("account_id").loc[want.index]
    np.testing.assert_array_equal(got["score"].to_numpy(float), want["score"].to_numpy())
    assert got["flagged"].tolist() == want["flagged"].tolist()
    assert got["rank"].fillna(-1).astype(int).tolist() == want["rank"].fillna(-1).tolist()
    assert got["cluster_id"].tolist() == want["cluster_id"].tolist()
    assert got["reasons"].tolist() == want["reasons"].tolist()
    # the headline an investigator reads (#14): rank and percentile, and what the queue says
    np.testing.assert_array_equal(got["percentile"].to_numpy(float), want["percentile"].to_numpy())
    assert want["percentile"].notna().sum() > 900
    assert got["status_vs_previous"].tolist() == want["status_vs_previous"].tolist()
    assert got["decision"].tolist() == want["decision"].tolist() == [""] * 1000  # no log
    assert set(got["run_id"]) == {report.run_id}
    # links carry the masked evidence, never a value in clear
    ev = db("MATCH (:Account)-[s:SAME_ACTOR]->(:Account) RETURN s.evidence, s.weight")
    assert all(e.startswith("shares ") and ":" in e for e, _ in ev)
    values = set(tables.identifiers["value"])
    assert not any(v in e for e, _ in ev for v in values if len(v) > 6)

    back = load_from_neo4j(settings)
    assert_same_tables(tables, back)
    assert back.sources["accounts"].startswith("neo4j ")
    # and the flag job gives the same answer on what came back
    again = flag(back, review_capacity=40).scores.set_index("account_id")
    want = result.scores.set_index("account_id")
    np.testing.assert_allclose(again.loc[want.index, "score"], want["score"], rtol=1e-9,
                               atol=1e-12)


def test_second_sync_of_the_same_run_changes_nothing(db, settings, platform):
    tables, result = platform
    first = sync(settings, tables, result)
    before = snapshot(db)
    second = sync(settings, tables, result, batch_size=777)
    after = snapshot(db)
    assert second.run_id == first.run_id
    assert before == after
    assert sum(second.deleted.values()) == 0
    nodes, rels = after
    assert max(nodes.values()) == 1 and max(rels.values()) == 1   # no duplicates
    assert sum(nodes.values()) == (1000 + len(result.graph.identifiers) + len(result.clusters)
                                   + len(tables.enforcement))


def _next_run(tables: Tables, result) -> Tables:
    """A later state of the platform: drops accounts, an edge kind and the identifiers
    behind some links; adds an edge kind; bans the top flags and clears others."""
    links = result.links.sort_values("weight", ascending=False)
    unlink = links.head(15)
    gone = set(result.scores.loc[result.scores["cluster_id"] >= 0, "account_id"].head(5))
    acc = tables.accounts[~tables.accounts["account_id"].isin(gone)]
    idf = tables.identifiers
    idf = idf[~idf["account_id"].isin(gone) & ~idf["account_id"].isin(unlink["account_b"])]
    edf = tables.edges[(tables.edges["kind"] != "message")
                       & ~tables.edges["src"].isin(gone) & ~tables.edges["dst"].isin(gone)]
    ids = acc["account_id"].to_numpy()
    gifts = pd.DataFrame({"src": ids[:20], "dst": ids[20:40], "kind": "gift", "weight": 2.0})
    edf = pd.concat([edf, gifts], ignore_index=True)
    top = result.top(10)["account_id"].tolist()
    enf = tables.enforcement[~tables.enforcement["account_id"].isin(gone)]
    now = tables.newest_timestamp()
    extra = pd.DataFrame({"account_id": top[:5] + top[5:], "action": ["ban"] * 5 + ["cleared"] * 5,
                          "at": now, "reason": "review"})
    enf = pd.concat([enf, extra], ignore_index=True)
    return load_tables(acc, identifiers=idf, edges=edf, enforcement=enf)


def test_a_newer_run_replaces_flags_links_and_memberships(db, settings, platform):
    tables, result = platform
    sync(settings, tables, result)
    t2 = _next_run(tables, result)
    r2 = flag(t2, review_capacity=40)
    assert set(r2.scores.loc[r2.scores["flagged"], "account_id"]) != set(
        result.scores.loc[result.scores["flagged"], "account_id"])
    report = sync(settings, t2, r2)
    assert report.deleted["Account"] == 5
    assert report.deleted["relationships"] > 0

    flagged = {r[0] for r in db("MATCH (a:Account) WHERE a.flagged = true RETURN a.account_id")}
    assert flagged == set(r2.scores.loc[r2.scores["flagged"], "account_id"])
    banned = {r[0] for r in db("MATCH (a:Account) WHERE a.banned = true RETURN a.account_id")}
    assert banned == set(r2.scores.loc[r2.scores["banned"], "account_id"])

    def pair(a, b):
        return (min(a, b), max(a, b))

    links = {tuple(r[0:2]) for r in db("MATCH (a:Account)-[:SAME_ACTOR]->(b:Account) "
                                "RETURN a.account_id, b.account_id")}
    l2 = r2.links[r2.links["link_kind"] == "same_actor"]
    l1 = result.links[result.links["link_kind"] == "same_actor"]
    want = {pair(a, b) for a, b in zip(l2["account_a"], l2["account_b"])}
    old = {pair(a, b) for a, b in zip(l1["account_a"], l1["account_b"])}
    assert {tuple(x) for x in links} == want and old - want  # stale links are gone
    member = {tuple(r) for r in db("MATCH (a:Account)-[:IN_CLUSTER]->(c:Cluster) "
                                   "RETURN a.account_id, c.cluster_id")}
    m2 = r2.scores[r2.scores["cluster_id"] >= 0]
    assert member == set(zip(m2["account_id"], m2["cluster_id"]))
    assert count(db, "(c:Cluster)") == len(r2.clusters)
    assert count(db, "()-[:MESSAGE]->()") == 0
    assert count(db, "()-[:GIFT]->()") == 20
    stale = db("MATCH (n) WHERE n.run_id <> $r RETURN count(n)", r=report.run_id)[0][0]
    assert stale == 0
    assert_same_tables(t2, load_from_neo4j(settings))


def test_hostile_ids_round_trip(db, settings):
    hostile = ["x'}) DETACH DELETE n //", 'dq"uote', "back`tick", "brace}", "{brace",
               "uni\u00e9\u4e2d\U0001F600", "$param", "a\\b", "MATCH (n) DETACH DELETE n",
               "per%cent", "semi;colon"]
    # control characters never reach the database: the input contract refuses them
    with pytest.raises(InputError, match="control or invisible characters"):
        load_tables(pd.DataFrame({"account_id": ["nul\x00byte", "new\nline"]}))
    accounts = pd.DataFrame({"account_id": hostile,
                             "weird`col": list(range(len(hostile))),
                             "score": [0.5] * len(hostile),          # collides with an output
                             "note": ["it's \"fine\"`"] * len(hostile)})
    ids = pd.DataFrame({"account_id": hostile, "kind": "device",
                        "value": ["dev'}) RETURN 1 //"] * 3 + ["d`" + str(i) for i in
                                                             range(len(hostile) - 3)],
                        "seen_at": "2026-01-01T00:00:00Z"})
    edges = pd.DataFrame({"src": hostile[:-1], "dst": hostile[1:], "kind": "transfer",
                          "amount": 1.5})
    enf = pd.DataFrame({"account_id": [hostile[0], hostile[5]], "action": ["ban", "cleared"],
                        "reason": ["x'}) DELETE", "ok"]})
    tables = load_tables(accounts, identifiers=ids, edges=edges, enforcement=enf)
    db("CREATE (:Sentinel {name: 'keep me'})")
    sync(settings, tables, flag(tables))
    got = sorted(r[0] for r in db("MATCH (a:Account) RETURN a.account_id"))
    assert got == sorted(hostile)
    assert count(db, "(s:Sentinel)") == 1          # not owned by the sync: untouched
    props = db("MATCH (a:Account {account_id: $id}) RETURN properties(a)", id=hostile[0])[0][0]
    assert props["weird`col"] == 0 and props["input.score"] == 0.5
    assert props["score"] == pytest.approx(0.0) or props["score"] != 0.5  # the job's score
    assert_same_tables(tables, load_from_neo4j(settings))


def test_bad_kinds_are_refused_before_anything_is_written(db, settings, platform):
    tables, result = platform
    edges = tables.edges.copy()
    edges["kind"] = edges["kind"].astype(str)
    edges.loc[0, "kind"] = "x`]->() DETACH DELETE n //"
    bad = Tables(accounts=tables.accounts, identifiers=tables.identifiers, edges=edges,
                 enforcement=tables.enforcement)
    db("CREATE (:Sentinel)")
    with pytest.raises(ValueError, match="not a lower-case token"):
        sync(settings, bad, result)
    assert count(db, "(n)") == 1


def test_outputs_of_another_run_are_refused(db, settings, platform):
    tables, result = platform
    small = generate_platform(n_accounts=300, seed=2)
    other = load_tables(small.accounts, identifiers=small.identifiers, edges=small.edges,
                        enforcement=small.enforcement)
    with pytest.raises(ValueError, match="do not belong to these inputs"):
        sync(settings, other, result)
    assert count(db, "(n)") == 0

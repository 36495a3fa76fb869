"""The incremental sync against the test server: only the changes travel, and the database
ends up as a full sync of the new run leaves it (run stamps aside)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from neo4j_helpers import count, flag, snapshot, sync

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.graph.neo4j.bulk import STATE_FILE, export_bulk
from ringfence.graph.neo4j.incremental import SyncState, sync_changes
from ringfence.graph.neo4j.rows import _prepare, default_run_id

pytestmark = pytest.mark.neo4j

# the natural key of each step's rows, written out here independently of rows.py
NATURAL = {"accounts": ("account_id",), "identifiers": ("kind", "value"),
           "uses": ("account_id", "kind", "value"), "edges": ("edge_id",),
           "enforcement": ("enforcement_id",), "clusters": ("cluster_id",),
           "in_cluster": ("account_id", "cluster_id"), "same_actor": ("a", "b")}


def _canonical(tables, outputs, graph) -> dict[str, dict]:
    """step name -> {natural key: the row as JSON without the run stamp}."""
    out: dict[str, dict] = {}
    for w in _prepare(tables, outputs, graph, "stamp"):
        for row in w.rows():
            row = {k: ({p: x for p, x in v.items() if p != "run_id"} if k == "props" else v)
                   for k, v in row.items()}
            key = tuple(row[k] for k in NATURAL[w.name.split(":")[0]])
            out.setdefault(w.name, {})[key] = json.dumps(row, sort_keys=True, default=str)
    return out


def _changes(a: dict, b: dict) -> tuple[int, int]:
    """(rows of b that are new or differ from a, rows of a whose key b has not)."""
    sent = sum(1 for name, rows in b.items() for k, v in rows.items()
               if a.get(name, {}).get(k) != v)
    gone = sum(1 for name, rows in a.items() for k in rows if k not in b.get(name, {}))
    return sent, gone


def _next_night(tables, result):
    """Run B: three accounts changed score, one new account (with a new transfer and a
    new identity link to an old account), one account gone with all it had."""
    scores, links = result.scores.copy(), result.links.copy()
    ids = scores["account_id"].astype(str)
    gone = ids[(scores["cluster_id"] < 0).to_numpy()].iloc[0]
    changed = ids[(ids != gone).to_numpy()].iloc[[3, 4, 5]].tolist()
    scores.loc[ids.isin(changed).to_numpy(), "score"] += 0.125
    friend = ids[(ids != gone).to_numpy()].iloc[10]
    new_row = scores[ids == friend].assign(account_id="acct_new", cluster_id=-1,
                                           identity_id=-1)
    scores = pd.concat([scores[(ids != gone).to_numpy()], new_row], ignore_index=True)
    accounts = pd.concat([tables.accounts[tables.accounts["account_id"] != gone],
                          tables.accounts[tables.accounts["account_id"] == friend].assign(
                              account_id="acct_new")], ignore_index=True)
    idf = tables.identifiers[tables.identifiers["account_id"] != gone]
    edf = tables.edges[(tables.edges["src"] != gone) & (tables.edges["dst"] != gone)]
    edf = pd.concat([edf, pd.DataFrame({"src": ["acct_new"], "dst": [friend],
                                        "kind": ["transfer"], "weight": [1.0]})],
                    ignore_index=True)
    enf = tables.enforcement[tables.enforcement["account_id"] != gone]
    # a same-actor link (shared-environment links are evidence: Neo4j does not hold them)
    new_link = links.iloc[[0]].assign(account_a=friend, account_b="acct_new",
                                      link_kind="same_actor")
    links = pd.concat([links[(links["account_a"] != gone) & (links["account_b"] != gone)],
                       new_link], ignore_index=True)
    t2 = load_tables(accounts, identifiers=idf, edges=edf, enforcement=enf)
    return t2, {"scores": scores, "links": links, "clusters": result.clusters}, changed, gone


@pytest.fixture(scope="module")
def small():
    p = generate_platform(n_accounts=500, seed=4)
    tables = load_tables(p.accounts, identifiers=p.identifiers, edges=p.edges,
                         enforcement=p.enforcement)
    return tables, flag(tables, review_capacity=20)


def _without_stamps(snap):
    def strip(props):
        return tuple(p for p in props if not p.startswith("run_id="))
    nodes, rels = snap
    return ({(labels, strip(p)): n for (labels, p), n in nodes.items()},
            {(t, a, b, strip(p)): n for (t, a, b, p), n in rels.items()})


def test_only_the_changes_travel_and_the_result_is_the_full_sync(db, settings, small):
    tables, result = small
    a_out = {n: getattr(result, n) for n in ("scores", "links", "clusters")}
    kw = {"progress": False, "batch_size": 2000, "graph": result.graph}
    first, state_a = sync_changes(settings, tables, a_out, None, **kw)
    assert first.mode == "full" and "no sync state" in first.note
    assert db("MATCH (s:RingfenceSync) RETURN s.run_id, s.state_digest") == [
        [state_a.run_id, state_a.digest]]

    # the same run again: nothing to send, nothing changes
    before = snapshot(db)
    again, same = sync_changes(settings, tables, a_out, state_a, **kw)
    assert again.mode == "incremental" and again.rows == 0 and not again.deleted
    assert same.digest == state_a.digest and snapshot(db) == before

    # only three scores changed: three account rows travel
    scores = result.scores.copy()
    scores.loc[scores.index[:3], "score"] += 0.5
    three, state_3 = sync_changes(settings, tables, {**a_out, "scores": scores}, state_a, **kw)
    assert three.mode == "incremental" and three.rows == 3
    assert [(s.name, s.rows) for s in three.steps] == [("accounts", 3)]
    # and back: the same three
    back, state_a = sync_changes(settings, tables, a_out, state_3, **kw)
    assert back.mode == "incremental" and back.rows == 3 and snapshot(db) == before

    # the next night: changed scores, a new account with a link, a gone account
    t2, b_out, changed, gone = _next_night(tables, result)
    want_sent, want_gone = _changes(_canonical(tables, a_out, result.graph),
                                    _canonical(t2, b_out, result.graph))
    assert 0 < want_sent + want_gone < 100            # a handful, not ~9,000
    report, state_b = sync_changes(settings, t2, b_out, state_a, **kw)
    assert report.mode == "incremental"
    assert report.rows - report.step("delete").rows == want_sent
    assert report.step("delete").rows == want_gone
    assert report.step("accounts").rows == len(changed) + 1     # three scores, one new
    assert report.deleted["accounts"] == 1
    assert db("MATCH (a:Account {account_id: $id}) RETURN count(a)", id=gone) == [[0]]
    assert count(db, "(:Account {account_id: 'acct_new'})-[:TRANSFER]->(:Account)") == 1
    assert count(db, "(:Account)-[:SAME_ACTOR]->(:Account {account_id: 'acct_new'})") == 1 \
        or count(db, "(:Account {account_id: 'acct_new'})-[:SAME_ACTOR]->(:Account)") == 1
    stamped = {r[0] for r in db("MATCH (a:Account) WHERE a.run_id = $r RETURN a.account_id",
                                r=state_b.run_id)}
    assert set(changed) | {"acct_new"} <= stamped and len(stamped) < 100
    incremental = _without_stamps(snapshot(db))

    # the same database after a full sync of B from empty
    db("MATCH (n) DETACH DELETE n")
    full, state_full = sync_changes(settings, t2, b_out, None, full=True, **kw)
    assert full.mode == "full" and full.rows > 20 * (report.rows + 1)
    assert state_full.digest == state_b.digest
    assert incremental == _without_stamps(snapshot(db))


def test_falls_back_to_the_full_sync_when_the_state_does_not_match(db, settings, small,
                                                                   tmp_path):
    tables, result = small
    a_out = {n: getattr(result, n) for n in ("scores", "links", "clusters")}
    kw = {"progress": False, "batch_size": 2000, "graph": result.graph}
    _, state = sync_changes(settings, tables, a_out, None, **kw)
    state.write(tmp_path / "state.parquet")
    back = SyncState.read(tmp_path / "state.parquet")
    assert back.digest == state.digest and back.run_id == state.run_id
    # a bulk export of the run carries the same state: after neo4j-admin imports it, the
    # first sync is incremental
    bulk = export_bulk(tables, a_out, tmp_path / "bulk", graph=result.graph)
    assert SyncState.read(bulk.directory / STATE_FILE).digest == state.digest
    assert len(back.table) == sum(len(w) for w in _prepare(
        tables, a_out, result.graph, default_run_id(tables, a_out)))

    # a state of another run: full
    scores = result.scores.copy()
    scores["score"] = np.round(scores["score"], 2)
    _, other = sync_changes(settings, tables, {**a_out, "scores": scores}, state, **kw)
    report, _ = sync_changes(settings, tables, a_out, state, **kw)
    assert report.mode == "full" and "does not hold the state" in report.note
    assert report.rows == len(back.table)
    # a plain sync_to_neo4j (or one that failed half-way) leaves no record: full
    sync(settings, tables, result)
    assert count(db, "(s:RingfenceSync)") == 0
    report, _ = sync_changes(settings, tables, a_out, state, **kw)
    assert report.mode == "full" and "no record" in report.note
    assert db("MATCH (s:RingfenceSync) RETURN s.state_digest") == [[state.digest]]

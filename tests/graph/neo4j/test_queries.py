"""The investigator queries (``neo4j_neighbourhood``, ``neo4j_evidence_paths``) on a
hand-built graph, and the server difference they work around."""

from __future__ import annotations

import pandas as pd
import pytest
from neo4j_helpers import flag, sync

from ringfence.graph import load_tables
from ringfence.graph.config import GraphConfig
from ringfence.graph.neo4j import neo4j_evidence_paths, neo4j_neighbourhood

pytestmark = pytest.mark.neo4j


@pytest.fixture
def small_world(db, settings):
    """c (the account under review) and its surroundings::

        c -device D1- b1 (banned)                      1 hop
        c -transfer-> m -email E1- b3 (banned)         2 hops
        c -card K1- x (cleared) -phone P1- b2 (banned) blocked by the clearance
        c -ip HUB- b4 (banned) + 4 others              hub IP (over its share limit)
        c -device D1- b1 ... b5 far away               3 hops
    """
    ids = ["c", "b1", "b2", "b3", "b4", "b5", "m", "x", "y", "h1", "h2", "h3", "h4"]
    accounts = pd.DataFrame({"account_id": ids, "n": range(len(ids))})
    uses = [("c", "device", "D1"), ("b1", "device", "D1"), ("m", "email", "E1"),
            ("b3", "email", "E1"), ("c", "card", "K1"), ("x", "card", "K1"),
            ("x", "phone", "P1"), ("b2", "phone", "P1"), ("b3", "phone", "P3"),
            ("y", "phone", "P3"), ("y", "card", "K5"), ("b5", "card", "K5")]
    uses += [(a, "ip", "HUB") for a in ("c", "b4", "h1", "h2", "h3", "h4")]
    idf = pd.DataFrame(uses, columns=["account_id", "kind", "value"])
    idf["seen_at"] = "2026-01-01T00:00:00Z"
    edges = pd.DataFrame({"src": ["c"], "dst": ["m"], "kind": ["transfer"], "amount": [10.0]})
    enf = pd.DataFrame({"account_id": ["b1", "b2", "b3", "b4", "b5", "x"],
                        "action": ["ban"] * 5 + ["cleared"], "at": "2026-01-02"})
    tables = load_tables(accounts, identifiers=idf, edges=edges, enforcement=enf)
    config = GraphConfig(share_limits={"ip": 4})
    result = flag(tables, config=config)
    sync(settings, tables, result)
    return result


def test_evidence_paths(small_world, driver, settings):
    paths = neo4j_evidence_paths(driver, "c", max_hops=2, limit=10, database=settings.database)
    assert [(p["banned_account"], p["hops"]) for p in paths] == [("b1", 1), ("b3", 2)]
    first, second = paths
    assert first["accounts"] == ["c", "b1"]
    assert first["steps"] == [{"via": "identifier", "kind": "device", "value": "D1",
                               "n_accounts": 2, "weight": first["steps"][0]["weight"]}]
    assert first["strength"] == pytest.approx(first["steps"][0]["weight"])
    assert second["accounts"] == ["c", "m", "b3"]
    assert [s["via"] for s in second["steps"]] == ["edge", "identifier"]
    assert second["steps"][0]["type"] == "TRANSFER" and second["steps"][0]["amount"] == 10.0
    assert "b3" in second["text"]
    assert [p["banned_account"] for p in neo4j_evidence_paths(
        driver, "c", max_hops=2, limit=1, database=settings.database)] == ["b1"]
    assert [p["banned_account"] for p in neo4j_evidence_paths(
        driver, "c", max_hops=1, database=settings.database)] == ["b1"]
    # 3 hops reach b5 (c -D1- b1 is banned: paths do not go through banned accounts;
    # c -> m -E1- b3 -P3- y -K5- b5 would go through banned b3)
    assert "b5" not in {p["banned_account"] for p in neo4j_evidence_paths(
        driver, "c", max_hops=4, limit=50, database=settings.database)}
    with pytest.raises(ValueError):
        neo4j_evidence_paths(driver, "c", max_hops="2; MATCH (n) DETACH DELETE n",
                       database=settings.database)


def test_neighbourhood(small_world, driver, settings):
    result = small_world
    g = neo4j_neighbourhood(driver, "c", hops=1, database=settings.database)
    partners = {b if a == "c" else a for a, b in zip(result.links["account_a"],
                                                     result.links["account_b"]) if "c" in (a, b)}
    assert set(g.nodes) == {"c", ("device", "D1"), ("card", "K1"), ("ip", "HUB"), "m"} | partners
    assert g.nodes["c"]["distance"] == 0 and g.nodes["c"]["labels"] == ["Account"]
    assert g.nodes[("device", "D1")]["labels"] == ["Device"]
    assert g.nodes[("device", "D1")]["n_accounts"] == 2
    uses = [d for _, _, d in g.edges(("device", "D1"), data=True) if d["type"] == "USES"]
    assert uses and uses[0]["count"] == 1 and uses[0]["source"] == "c"
    assert any(d["type"] == "TRANSFER" for _, _, d in g.edges("m", data=True))
    assert not g.graph["truncated"]

    g2 = neo4j_neighbourhood(driver, "c", hops=2, database=settings.database)
    assert {"b1", "x", "b3", "b4", "h1"} <= set(g2.nodes)
    # a neighbourhood is not evidence: the cleared x and what lies behind it are shown
    assert g2.nodes["x"]["distance"] == 1 and g2.nodes["b2"]["distance"] == 2  # SAME_ACTOR x-b2
    assert ("phone", "P3") not in g2 and "y" not in g2
    assert all("Cluster" not in d["labels"] and "Enforcement" not in d["labels"]
               for _, d in g2.nodes(data=True))
    assert g2.graph["center"] == "c"

    hubless = neo4j_neighbourhood(driver, "c", hops=2, database=settings.database,
                            max_identifier_accounts=4)
    assert ("ip", "HUB") in hubless and "h1" not in hubless and "b1" in hubless

    small = neo4j_neighbourhood(driver, "c", hops=2, limit=3, database=settings.database)
    assert small.number_of_nodes() == 4 and small.graph["truncated"]
    assert all(d["distance"] <= 1 for _, d in small.nodes(data=True))
    with pytest.raises(KeyError):
        neo4j_neighbourhood(driver, "no such account", database=settings.database)


# --------------------------------------------------------------------------- server differences met
# by the sync (docs/neo4j-testing.md, row 18): strict xfail on ArcadeDB, asserting Neo4j 5.


@pytest.fixture(scope="module")
def vendor(driver) -> str:
    return "arcadedb" if "arcadedb" in driver.get_server_info().agent.lower() else "neo4j"


def differs_on_arcadedb(request, vendor: str, reason: str) -> None:
    if vendor == "arcadedb":
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError,
                                              reason=f"ArcadeDB: {reason}"))


@pytest.fixture
def chain(db):
    db("CREATE (:Account {account_id: 'c'})-[:T]->(:Account {account_id: 'm'})"
       "-[:T]->(:Account {account_id: 'b'})")
    return db


def test_list_predicate_over_path_sees_other_pattern_variables(request, vendor, chain):
    differs_on_arcadedb(request, vendor, "in the WHERE of a variable-length MATCH, a list "
                        "predicate over nodes(p) that refers to another pattern variable "
                        "drops every row")
    n = chain("MATCH (c:Account {account_id: 'c'}) MATCH p = (c)-[*1..2]-(b:Account) "
              "WHERE all(x IN nodes(p)[1..] WHERE x <> c) RETURN count(*)")[0][0]
    assert n == 2


def test_list_predicate_over_path_portable_forms(chain):
    with_param = chain("MATCH (c:Account {account_id: 'c'}) MATCH p = (c)-[*1..2]-(b:Account) "
                       "WHERE all(x IN nodes(p)[1..] WHERE x.account_id <> $id) "
                       "RETURN count(*)", id="c")[0][0]
    with_with = chain("MATCH (c:Account {account_id: 'c'}) MATCH p = (c)-[*1..2]-(b:Account) "
                      "WITH c, p WHERE all(x IN nodes(p)[1..] WHERE x <> c) "
                      "RETURN count(*)")[0][0]
    assert with_param == with_with == 2

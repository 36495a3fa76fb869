"""Investigator queries against the synced graph: a neighbourhood and evidence paths.

These are the Neo4j counterparts of the in-memory
:func:`ringfence.graph.neighbourhood.neighbourhood` and
:func:`ringfence.graph.evidence.evidence_paths`, with their own names because they
differ by nature: they take a driver and an account id (not an ``AccountGraph`` and
node numbers), walk the stored relationships (not the graph's weighted links), key
identifiers by ``(kind, value)`` and show values in clear (the database holds them
so), where the in-memory ones mask them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringfence.graph.neo4j.names import IDENTIFIER_NODE_LABELS, _any_label

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["neo4j_evidence_paths", "neo4j_neighbourhood"]

#: relationship types never walked by the investigator queries (they are not links)
NOT_LINKS = ("IN_CLUSTER", "HAS_ENFORCEMENT")


def _native(v: Any) -> Any:
    if isinstance(v, list):
        return [_native(x) for x in v]
    to_native = getattr(v, "to_native", None)
    return to_native() if callable(to_native) else v


def _node_key(node) -> Any:
    props = node._properties if hasattr(node, "_properties") else dict(node)
    if "Account" in node.labels and "account_id" in props:
        return props["account_id"]
    if "kind" in props and "value" in props:
        return (props["kind"], props["value"])
    return node.element_id


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def neo4j_neighbourhood(driver: Any, account_id: str, hops: int = 2, limit: int = 500, *,
                        database: str | None = None,
                        max_identifier_accounts: int | None = None) -> "nx.MultiGraph":
    """The accounts and identifiers within ``hops`` relationships of an account in Neo4j,
    as a ``networkx.MultiGraph`` (one Cypher query).

    The stored-graph counterpart of :func:`ringfence.graph.neighbourhood.neighbourhood`
    (which takes an ``AccountGraph``, follows weighted links, keeps the strongest
    ``max_nodes`` and masks identifier values). Here every stored relationship is a
    step, the nearest nodes are kept and values are in clear.

    Parameters
    ----------
    driver
        A ``neo4j.Driver`` (e.g. from :func:`~ringfence.graph.neo4j.connect`).
    account_id
        The centre account; ``KeyError`` when it is not in the database.
    hops
        Relationships to walk from the account (1 to 6).
    limit
        Keep the nearest ``limit`` nodes besides the centre; ``G.graph["truncated"]``
        says whether more were in range.
    database
        The database (default: the server's default).
    max_identifier_accounts
        Do not walk through identifiers shared by more accounts (hubs); they still appear.

    Returns
    -------
    networkx.MultiGraph
        Nodes: accounts keyed by ``account_id``, identifiers by ``(kind, value)``, with
        their properties, ``labels`` and ``distance`` (relationships from the account).
        Edges: every ``USES``, account-to-account and ``SAME_ACTOR`` relationship among
        them, with ``type``, ``source`` (the start node's key) and their properties.
        ``G.graph``: ``center``, ``hops``, ``truncated``.
    """
    import networkx as nx

    hops = _check_int("hops", hops, 1, 6)
    limit = _check_int("limit", limit, 1, 1_000_000)
    query = (
        "MATCH (c:Account {account_id: $account_id}) "
        f"OPTIONAL MATCH p = (c)-[*1..{hops}]-(n) "
        "WHERE n <> c AND all(r IN relationships(p) WHERE NOT type(r) IN $not_links) "
        "AND ($hub IS NULL OR all(x IN nodes(p)[1..-1] "
        f"WHERE NOT {_any_label('x', IDENTIFIER_NODE_LABELS)} "
        "OR coalesce(x.n_accounts, 0) <= $hub)) "
        "WITH c, n, min(length(p)) AS dist "
        "ORDER BY dist, n.account_id, n.kind, n.value LIMIT $limit_plus "
        "WITH c, collect({node: n, dist: dist}) AS found "
        "WITH [{node: c, dist: 0}] + [f IN found WHERE f.node IS NOT NULL] AS found "
        "WITH found, [f IN found | f.node] AS ns "
        "CALL { WITH ns UNWIND ns AS x MATCH (x)-[r]->(y) "
        "WHERE y IN ns AND NOT type(r) IN $not_links RETURN collect(r) AS rels } "
        "RETURN found, rels")
    params = {"account_id": account_id, "not_links": list(NOT_LINKS),
              "hub": max_identifier_accounts, "limit_plus": limit + 1}
    with driver.session(database=database) as s:
        rows = s.execute_read(lambda tx: [r.values() for r in tx.run(query, params)])
    if not rows:
        raise KeyError(f"no account {account_id!r} in Neo4j")
    found, rels = rows[0]
    truncated = len(found) - 1 > limit
    found = found[: limit + 1]
    g = nx.MultiGraph(center=account_id, hops=hops, truncated=truncated)
    keys: dict[str, Any] = {}
    for f in found:
        node = f["node"]
        key = _node_key(node)
        keys[node.element_id] = key
        g.add_node(key, labels=sorted(node.labels), distance=f["dist"],
                   **{k: _native(v) for k, v in dict(node).items()})
    for r in rels:
        u, v = keys.get(r.start_node.element_id), keys.get(r.end_node.element_id)
        if u is None or v is None:
            continue
        g.add_edge(u, v, type=r.type, source=u, **{k: _native(x) for k, x in dict(r).items()})
    return g


def neo4j_evidence_paths(driver: Any, account_id: str, max_hops: int = 2, limit: int = 3, *,
                         database: str | None = None) -> list[dict]:
    """The shortest, strongest paths from one account to banned accounts in Neo4j
    (one query).

    The stored-graph counterpart of :func:`ringfence.graph.evidence.evidence_paths`
    (which takes an ``AccountGraph`` and node numbers, returns ``{node: paths}``,
    ranks by the weakest link and masks identifier values). Here one account gives a
    list of paths, ranked by hops then the product of the identifiers' weights, with
    values in clear as in the database.

    A hop is an account-to-account step: through a shared identifier
    (``USES``/``USES``) or an edge relationship. Paths do not pass through cleared
    or banned accounts, nor through hub identifiers (``weight`` 0: shared by more
    accounts than their kind's share limit).

    Parameters
    ----------
    driver
        A ``neo4j.Driver``.
    account_id
        The account under review.
    max_hops
        Longest path, in account-to-account steps (1 to 4).
    limit
        At most this many paths (1 to 10,000).
    database
        The database (default: the server's default).

    Returns
    -------
    list of dict
        Ranked by hops, then ``strength`` (the product of the identifiers' linking
        weights; edges count 1), then the banned account's id. Each path:
        ``account_id``, ``banned_account``, ``hops``, ``strength``, ``accounts`` (ids
        along the path), ``steps`` (one per hop: ``via`` "identifier" with
        ``kind``/``value``/``n_accounts``/``weight``, or "edge" with ``type`` and its
        properties) and ``text``.
    """
    max_hops = _check_int("max_hops", max_hops, 1, 4)
    limit = _check_int("limit", limit, 1, 10_000)
    query = (
        "MATCH (c:Account {account_id: $account_id}) "
        f"MATCH p = (c)-[*1..{2 * max_hops}]-(b:Account) "
        "WHERE b.banned = true AND b <> c "
        "AND all(r IN relationships(p) WHERE NOT type(r) IN $not_links) "
        # not "x <> c": ArcadeDB drops every row when a list predicate over a variable-length
        # path refers to another variable of the pattern; a parameter works on both
        "AND all(x IN nodes(p)[1..-1] WHERE coalesce(x.account_id, '') <> $account_id AND ("
        f"({_any_label('x', IDENTIFIER_NODE_LABELS)} AND coalesce(x.weight, 1.0) > 0) OR "
        "(x:Account AND coalesce(x.cleared, false) = false "
        "AND coalesce(x.banned, false) = false))) "
        "WITH p, b, size([x IN nodes(p) WHERE x:Account]) - 1 AS hops, "
        f"reduce(s = 1.0, x IN nodes(p) | s * CASE WHEN {_any_label('x', IDENTIFIER_NODE_LABELS)} "
        "THEN coalesce(x.weight, 1.0) ELSE 1.0 END) AS strength "
        "WHERE hops <= $max_hops "
        "RETURN p, b.account_id AS banned, hops, strength "
        "ORDER BY hops, strength DESC, banned LIMIT $limit")
    params = {"account_id": account_id, "not_links": list(NOT_LINKS) + ["SAME_ACTOR"],
              "max_hops": max_hops, "limit": limit}
    with driver.session(database=database) as s:
        rows = s.execute_read(lambda tx: [r.values() for r in tx.run(query, params)])
    out = []
    for path, banned, hops, strength in rows:
        nodes = list(path.nodes)
        accounts = [dict(n)["account_id"] for n in nodes if "Account" in n.labels]
        steps: list[dict] = []
        words = [str(account_id)]
        i = 0
        rels = list(path.relationships)
        while i < len(rels):
            nxt = nodes[i + 1]
            if "Account" not in nxt.labels:      # account -USES- identifier -USES- account
                p = dict(nxt)
                steps.append({"via": "identifier", "kind": p.get("kind"),
                              "value": p.get("value"), "n_accounts": p.get("n_accounts"),
                              "weight": p.get("weight")})
                words.append(f"shares {p.get('kind')} {p.get('value')!s} with "
                             f"{dict(nodes[i + 2]).get('account_id')}")
                i += 2
            else:
                r = rels[i]
                steps.append({"via": "edge", "type": r.type,
                              **{k: _native(v) for k, v in dict(r).items()}})
                kind = dict(r).get("kind") or r.type.lower()
                words.append(f"has a {kind} edge with {dict(nxt).get('account_id')}")
                i += 1
        out.append({"account_id": account_id, "banned_account": banned, "hops": hops,
                    "strength": strength, "accounts": accounts, "steps": steps,
                    "text": words[0] + " " + ", then ".join(words[1:]) + " (banned)"})
    return out

"""The pair classifier's personal-group context on Spark against in-process (local[2]).

Parity (issue 16): ``same_person`` and ``mixing`` of every candidate pair equal to
:func:`ringfence.graph.linking.supervised.pair_context`'s on a small platform with
reviewers' decisions, and on a few accounts added by hand: a value above its share limit
(it must not count) and a pair sharing two values (the smaller mixing); and the linker's
``sharing`` level (issue 13), with accounts that have no email or phone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities
from ringfence.graph.linking.supervised import pair_context
from ringfence.graph.synth import generate_platform

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CONFIG = GraphConfig(seed=3)
HUB = 21  # device users: one above the device share limit (20)


def _platform():
    """2,000 generated accounts, and by hand: p1 and p2 one person (the same email local
    part), x and y two others; card c1 used by p1, p2, x (2 groups / 3 users: 0.5),
    device d1 by p1, p2 (0), card c2 by x, y (1), device hub by p1, p2, x, y and
    ``HUB - 4`` others (above the limit: it counts for nobody); n1 and n2 without an email
    or phone: card c3 by n1, n2, y (one user with a personal value: no sharing evidence),
    device d2 by n1, n2, p1, x (two such users, two groups: several people)."""
    p = generate_platform(n_accounts=2000, seed=5, link_labels=0.5)
    hub_users = ["t_p1", "t_p2", "t_x", "t_y"] + [f"t_h{i}" for i in range(HUB - 4)]
    added_ids = hub_users + ["t_n1", "t_n2"]
    accounts = p.accounts.iloc[:len(added_ids)].copy()
    accounts["account_id"] = added_ids
    uses = [("t_p1", "email", "jo.tester@example.org"), ("t_p2", "email", "jo.tester@example.net"),
            ("t_x", "email", "xavier.q@example.org"), ("t_y", "email", "yolanda.r@example.org"),
            ("t_p1", "card", "tc1"), ("t_p2", "card", "tc1"), ("t_x", "card", "tc1"),
            ("t_p1", "device", "td1"), ("t_p2", "device", "td1"),
            ("t_x", "card", "tc2"), ("t_y", "card", "tc2"),
            ("t_n1", "card", "tc3"), ("t_n2", "card", "tc3"), ("t_y", "card", "tc3"),
            ("t_n1", "device", "td2"), ("t_n2", "device", "td2"), ("t_p1", "device", "td2"),
            ("t_x", "device", "td2")]
    uses += [(u, "device", "thub") for u in hub_users]
    added = pd.DataFrame(uses, columns=["account_id", "kind", "value"])
    added["seen_at"] = p.identifiers["seen_at"].iloc[0]
    return load_tables(pd.concat([p.accounts, accounts], ignore_index=True),
                       pd.concat([p.identifiers, added], ignore_index=True),
                       p.edges, p.enforcement, p.link_decisions)


@pytest.fixture(scope="module")
def both(spark):
    from ringfence.graph.spark.build import pair_frames
    from ringfence.graph.spark.mixing import pair_mixing

    tables = _platform()
    graph = build_graph(tables)
    compared = link_identities(graph, CONFIG, tables.link_decisions).linker.compared_
    want = pair_context(graph, compared)[["same_person", "mixing"]]
    want.insert(0, "b", compared.b)
    want.insert(0, "a", compared.a)
    frames = pair_frames(spark, tables, CONFIG, graph.as_of)
    # the candidates and their levels as in-process (candidate_levels' parity is
    # tests/spark/test_linking.py's; computing them again here would triple the time)
    levels = pd.DataFrame(compared.levels.astype(np.int64),
                          columns=[f"lv{j}" for j in range(len(compared.names))])
    cand = spark.createDataFrame(pd.concat([want[["a", "b"]].astype(np.int64), levels], axis=1))
    got = pair_mixing(cand, compared.names, frames, CONFIG).toPandas()
    return graph, want, got.sort_values(["a", "b"], ignore_index=True), compared, cand, frames


def test_same_person_and_mixing_equal_in_process(both):
    graph, want, got = both[:3]
    assert len(want) > 1000
    np.testing.assert_array_equal(got[["a", "b"]].to_numpy(), want[["a", "b"]].to_numpy())
    # the features vary: both values of same_person, mixing strictly inside (0, 1) too
    assert 0 < want["same_person"].sum() < len(want)
    assert ((want["mixing"] > 0) & (want["mixing"] < 1)).sum() > 10
    assert np.abs(got["same_person"] - want["same_person"]).max() == 0
    assert np.abs(got["mixing"] - want["mixing"]).max() == 0


def test_a_hub_does_not_count_and_two_shared_values_give_the_smaller(both):
    graph, want, got = both[:3]
    node = dict(zip(graph.account_ids, range(graph.n_accounts)))

    def row(u: str, v: str) -> pd.Series:
        a, b = sorted((node[u], node[v]))
        return got[(got["a"] == a) & (got["b"] == b)].iloc[0]

    # p1 and p2 share c1 (0.5) and d1 (0): the smaller; one person by their emails
    assert row("t_p1", "t_p2")[["same_person", "mixing"]].tolist() == [1.0, 0.0]
    assert row("t_p1", "t_x")[["same_person", "mixing"]].tolist() == [0.0, 0.5]
    # x and y share c2 (1) and the hub device, which would give 19 / 20 if it counted
    assert row("t_x", "t_y")[["same_person", "mixing"]].tolist() == [0.0, 1.0]


def test_the_sharing_level_equals_in_process(both, spark):
    from ringfence.graph.linking.mixing import SHARING, SHARING_LEVELS
    from ringfence.graph.spark.mixing import sharing_levels_frame, spark_personal_groups

    graph, _, _, compared, cand, frames = both
    j = compared.names.index(SHARING)
    names = compared.names[:j]
    groups = spark_personal_groups(cand, names)
    got = sharing_levels_frame(cand.drop(f"lv{j}"), groups, frames, CONFIG, 0.5, "sharing")
    got = got.select("a", "b", "sharing").toPandas().sort_values(["a", "b"], ignore_index=True)
    np.testing.assert_array_equal(got[["a", "b"]].to_numpy(), np.c_[compared.a, compared.b])
    want = compared.levels[:, j].astype(np.int64)
    assert np.array_equal(got["sharing"].to_numpy(np.int64), want)
    assert set(np.unique(want).tolist()) == {0, 1, 2}  # every level occurs
    level = {}
    node = {a: graph.nodes(np.array([a]))[0] for a in ("t_n1", "t_n2", "t_y", "t_p1", "t_x")}
    for a, b in (("t_n1", "t_n2"), ("t_n1", "t_y"), ("t_n1", "t_p1"), ("t_p1", "t_x")):
        lo, hi = sorted((node[a], node[b]))
        level[(a, b)] = SHARING_LEVELS[want[np.flatnonzero((compared.a == lo)
                                                           & (compared.b == hi))[0]]]
    # n1 and n2 share card c3 (one user with an email: no evidence) and device d2 (p1 and
    # x, two people): several people; so do n1 and p1 (d2 only)
    assert level[("t_n1", "t_n2")] == level[("t_n1", "t_p1")] == "several people"
    assert level[("t_n1", "t_y")] == "null"  # only card c3

"""graph/rings.py: flagged and undecided counts per cluster, active rings with undecided
members first (in the flag job's clusters table too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small_tables

from ringfence.graph.rings import ring_priorities, undecided_accounts
from ringfence.jobs.flag import run_flag

T = pd.Timestamp("2026-06-01", tz="UTC")


def two_rings():
    """Ring o (old): three banned accounts sharing a device and a card, last seen 400 days
    before as-of. Ring n (new): four accounts sharing a device and a card, one banned,
    active up to as-of. Old order: o first (all banned: the highest offence share)."""
    old, new = T - pd.Timedelta(days=400), T
    ids, enf = [], []
    for ring, when in (("o", old), ("n", new)):
        size = 3 if ring == "o" else 4
        for i in range(size):
            a = f"{ring}{i}"
            ids += [(a, "device", f"dev-{ring}", when), (a, "card", f"card-{ring}", when)]
    enf += [(f"o{i}", "ban", old) for i in range(3)] + [("n0", "ban", new)]
    # a platform around them: 40 unlinked accounts, one more banned, some cleared
    others = [f"x{i}" for i in range(40)]
    ids += [(a, "device", f"dev-{a}", new) for a in others]
    enf += [("x0", "ban", new)] + [(f"x{i}", "cleared", new) for i in range(1, 6)]
    accounts = [f"o{i}" for i in range(3)] + [f"n{i}" for i in range(4)] + others
    return small_tables(accounts, ids, enforcement=enf)


def test_flag_job_puts_the_active_ring_with_undecided_members_first():
    result = run_flag(two_rings(), scorer="propagation", review_capacity=3, as_of=T)
    state_order = result.state.clusters  # the graph stage's own order: offence share
    s = result.scores.set_index("account_id")
    old_c, new_c = int(s.loc["o0", "cluster_id"]), int(s.loc["n0", "cluster_id"])
    assert old_c >= 0 and new_c >= 0 and old_c != new_c
    assert state_order["cluster_id"].tolist()[0] == old_c   # the old order was wrong
    c = result.clusters.set_index("cluster_id")
    assert result.clusters["cluster_id"].tolist()[0] == new_c
    assert c.loc[old_c, ["undecided", "flagged"]].tolist() == [0, 0]
    assert not c.loc[old_c, "active"] and c.loc[new_c, "active"]
    assert c.loc[new_c, "undecided"] == 3
    assert c.loc[new_c, "flagged"] == int(s.loc[["n1", "n2", "n3"], "flagged"].sum()) >= 1
    assert c.loc[old_c, "risk"] > c.loc[new_c, "risk"]      # risk itself is unchanged


def test_undecided_counts_decisions_and_clearances():
    scores = pd.DataFrame({"cluster_id": [0, 0, 0, 0, 1],
                           "flagged": [True, True, False, False, False],
                           "banned": [False, False, False, True, False],
                           "cleared": [False, True, False, False, False],
                           "decision": [pd.NA, pd.NA, "lifted", pd.NA, pd.NA]})
    clusters = pd.DataFrame({"cluster_id": [1, 0], "size": [1, 4], "risk": [0.1, 0.5],
                             "last_activity": [T, T]})
    out = ring_priorities(clusters, scores, T).set_index("cluster_id")
    assert out.loc[0, "flagged"] == 2
    assert out.loc[0, "undecided"] == 1            # only the first: cleared, decided, banned
    assert out.loc[1, "undecided"] == 1
    assert undecided_accounts(scores).tolist() == [True, False, False, False, True]


def test_order_tiers_then_risk_and_the_window():
    days = [1, 10, 200, 200, 5]
    clusters = pd.DataFrame({"cluster_id": range(5), "size": [2] * 5,
                             "risk": [0.2, 0.3, 0.9, 0.5, 0.95],
                             "last_activity": [T - pd.Timedelta(days=d) for d in days]})
    # cluster 4 (riskiest, active) has nobody undecided
    scores = pd.DataFrame({"cluster_id": np.repeat(np.arange(5), 2),
                           "flagged": False, "banned": [False] * 8 + [True] * 2,
                           "cleared": False})
    out = ring_priorities(clusters, scores, T)
    assert out["cluster_id"].tolist() == [1, 0, 2, 3, 4]
    assert out["active"].tolist() == [True, True, False, False, True]
    wide = ring_priorities(clusters, scores, T, active_days=365)
    assert wide["cluster_id"].tolist() == [2, 3, 1, 0, 4]
    with pytest.raises(ValueError, match="active_days"):
        ring_priorities(clusters, scores, T, active_days=0)


def test_a_cluster_without_known_activity_is_not_active():
    clusters = pd.DataFrame({"cluster_id": [0], "size": [2], "risk": [0.5],
                             "last_activity": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]")})
    scores = pd.DataFrame({"cluster_id": [0, 0], "flagged": False, "banned": False,
                           "cleared": False})
    assert not ring_priorities(clusters, scores, T)["active"].iloc[0]

"""jobs/flag.py: the review queue, its reasons and evidence, thresholds, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import write_platform
from ringfence.jobs.flag import run_flag


@pytest.fixture(scope="module")
def files(platform, tmp_path_factory):
    d = tmp_path_factory.mktemp("platform")
    write_platform(platform, d, format="csv")
    return d


def test_review_queue_rules(propagation_result):
    s = propagation_result.scores
    assert s["flagged"].sum() == 60
    assert not (s["flagged"] & s["banned"]).any()      # banned accounts are not flagged again
    assert not (s["flagged"] & s["cleared"]).any()     # a reviewer's clearance stands
    assert s["score"].between(0, 1).all()
    ranked = s.dropna(subset=["rank"]).sort_values("rank")
    assert (np.diff(ranked["score"].to_numpy()) <= 0).all()
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert s.loc[s["banned"] | s["cleared"], "rank"].isna().all()
    assert set(s.loc[s["flagged"], "rank"]) == set(range(1, 61))
    flagged = s[s["flagged"]]
    assert (flagged["reasons"].str.len() > 0).all()


def test_reasons_mask_identifier_values(propagation_result, platform):
    reasons = " ".join(propagation_result.scores["reasons"])
    assert "shares " in reasons and "banned " in reasons
    values = platform.identifiers["value"].astype(str).unique()
    long_values = [v for v in values if len(v) >= 6]
    assert not any(v in reasons for v in long_values[:5000])


def test_evidence_table_matches_reasons(propagation_result):
    ev = propagation_result.evidence
    s = propagation_result.scores.set_index("account_id")
    assert set(ev["account_id"]) <= set(s.index[s["flagged"]])
    assert ev.groupby("account_id")["path_rank"].max().max() <= 3
    banned = set(s.index[s["banned"]])
    assert set(ev["banned_account"]) <= banned
    for _, row in ev.head(20).iterrows():
        assert row["text"] in s.loc[row["account_id"], "reasons"]
        assert json.loads(row["path"])[0] == row["account_id"]


def test_threshold_flags_those_above(tables):
    r = run_flag(tables, threshold=0.3, scorer="propagation")
    s = r.scores
    eligible = ~s["banned"] & ~s["cleared"]
    assert (s["flagged"] == (eligible & (s["score"] >= 0.3))).all()
    with pytest.raises(ValueError, match="not both"):
        run_flag(tables, threshold=0.3, review_capacity=5)


def test_deterministic_for_a_seed(tables, monkeypatch):
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "fixed-key-for-test")
    a = run_flag(tables, review_capacity=40, scorer="propagation")
    b = run_flag(tables, review_capacity=40, scorer="propagation")
    pd.testing.assert_frame_equal(a.scores, b.scores)
    pd.testing.assert_frame_equal(a.clusters, b.clusters)
    pd.testing.assert_frame_equal(a.links, b.links)


def test_freeing_inputs_changes_nothing_but_the_tables(platform, monkeypatch):
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "fixed-key-for-test")
    p = platform
    kept = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    freed = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    a = run_flag(kept, review_capacity=40, scorer="propagation")
    b = run_flag(freed, review_capacity=40, scorer="propagation", release_inputs=True)
    assert kept.identifiers is not None and freed.identifiers is None and freed.edges is None
    pd.testing.assert_frame_equal(a.scores, b.scores)
    assert a.run["row_counts"] == b.run["row_counts"]
    assert b.run["row_counts"]["identifiers"] == len(kept.identifiers)

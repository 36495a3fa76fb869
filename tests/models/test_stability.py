"""The model's scores as a reviewer relies on them: the same queue whatever the seed and the
order of the input rows; a rank and percentile beside every score."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.masking import Masker
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.jobs.report.case import case_report_html
from ringfence.jobs.runs import read_run, write_run
from ringfence.models.scoring import ModelScorer, percentile_of_rank

LIGHT = {"max_iter": 60}  # row order and columns do not need the full booster


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_scores_do_not_depend_on_the_order_of_input_rows():
    p = generate_platform(n_accounts=2000, seed=3)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    t2 = load_tables(*(_shuffled(df, i) for i, df in
                       enumerate((p.accounts, p.identifiers, p.edges, p.enforcement))))
    a = run_flag(t, seed=1, scorer=ModelScorer(seed=1, params=LIGHT)).scores
    b = run_flag(t2, seed=1, scorer=ModelScorer(seed=1, params=LIGHT)).scores
    assert a["score"].nunique() > 100
    b = b.set_index("account_id").loc[a["account_id"]]
    np.testing.assert_allclose(b["score"].to_numpy(), a["score"].to_numpy(), atol=1e-9)
    np.testing.assert_array_equal(b["rank"].to_numpy(), a["rank"].to_numpy())


@pytest.mark.slow  # three flag runs with the full model on 3,000 accounts
def test_the_queue_is_the_same_whatever_the_seed():
    # one booster refitted on folds drawn from the seed, with features from the seed's
    # clusters, shared only 47-73 % of its top 30 between seeds 0, 1 and 2 on this platform
    p = generate_platform(n_accounts=3000, seed=11)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    tops = {}
    for seed in (0, 1, 2):
        result = run_flag(t, seed=seed)
        assert result.summary()["scoring"] == "model (fitted in this run)"
        s = result.scores
        tops[seed] = set(s.nsmallest(30, "rank")["account_id"])
    overlaps = [len(tops[x] & tops[y]) / 30 for x, y in itertools.combinations(tops, 2)]
    assert min(overlaps) >= 0.8, overlaps


def test_percentile_is_the_place_in_the_queue(tmp_path):
    p = generate_platform(n_accounts=1500, seed=4)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    s = run_flag(t, scorer="propagation", review_capacity=10).scores
    ranked = s[s["rank"].notna()].sort_values("rank")
    n = len(ranked)
    assert n == int((~s["banned"] & ~s["cleared"]).sum()) > 1000
    assert ranked["percentile"].iloc[0] == 100.0
    assert ranked["percentile"].iloc[-1] == pytest.approx(100.0 / n)
    assert ranked["percentile"].is_monotonic_decreasing
    k = 250
    assert ranked["percentile"].iloc[k - 1] == pytest.approx(100.0 * (n - k + 1) / n)
    assert s.loc[s["rank"].isna(), "percentile"].isna().all()   # banned and cleared
    assert np.isnan(percentile_of_rank(np.array([np.nan, np.nan]))).all()
    written = read_run(write_run(run_flag(t, scorer="propagation"), tmp_path / "run")).result()
    np.testing.assert_array_equal(written.scores["percentile"].to_numpy(),
                                  s["percentile"].to_numpy())


@pytest.fixture(scope="module")
def model_run():
    p = generate_platform(n_accounts=2000, seed=5)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    return run_flag(t, scorer=ModelScorer(params=LIGHT), review_capacity=20, masker=Masker(b"k"))


def test_the_case_report_headlines_the_rank_not_the_probability(model_run):
    s = model_run.scores
    n = int(s["rank"].notna().sum())
    top = str(s.nsmallest(1, "rank")["account_id"].iloc[0])
    page = case_report_html(model_run, top, Masker(b"k"))
    # the rank comes first, with its share of the queue; the score after it, said to be no
    # probability for this account
    assert page.index('id="rank">#1<') < page.index('id="score">')
    assert f"of {n:,} ranked accounts: top {100 / n:.2g} %" in page
    assert "a rank, not a probability" in page
    assert "calibrated on reviewed accounts" in page
    mid = s[s["rank"] == 1000]["account_id"].iloc[0]
    assert f"top {100 * 1000 / n:.0f} %" in case_report_html(model_run, str(mid), Masker(b"k"))

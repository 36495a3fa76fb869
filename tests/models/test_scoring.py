"""models/scoring.py: the model scorer falls back to propagation with few labels and beats it with
enough; scorers by name, saved models, explanations of the top accounts, rank order."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.models.evaluate import evaluate_scores
from ringfence.models.model import load_model, save_model
from ringfence.models.scoring import (EXPLAIN_LIMIT, ModelScorer, PropagationScorer,
                                      eligible_nodes, make_scorer, rank_order)
from ringfence.models.training import fit_model


def test_flag_job_falls_back_to_propagation_with_few_labels(platform):
    p = platform
    enf = p.enforcement
    cleared = enf[enf["action"] == "cleared"].head(5)
    few = pd.concat([enf[enf["action"] != "cleared"], cleared])
    t = load_tables(p.accounts, p.identifiers, p.edges, few)
    r = run_flag(t, review_capacity=50)
    assert r.summary()["scoring"] == "propagation"
    assert "5 cleared" in r.summary()["scoring_note"]
    assert r.run["model"]["mode"] == "propagation"


@pytest.mark.slow  # 8,000 accounts, two flag runs
def test_model_beats_propagation_alone_at_k(parts, platform):
    t = parts[0]
    truth = platform.truth
    k = 80
    prop = run_flag(t, review_capacity=k, scorer="propagation")
    model = run_flag(t, review_capacity=k)
    assert model.summary()["scoring"] == "model (fitted in this run)"
    m_prop = evaluate_scores(prop.scores, truth)
    m_model = evaluate_scores(model.scores, truth)
    assert m_model["precision_at_capacity"] > m_prop["precision_at_capacity"]
    assert m_model["average_precision"] > m_prop["average_precision"]
    flagged = model.scores[model.scores["flagged"]]
    assert flagged["reasons"].str.contains("model, top contributions").any()


# --- scorers on a small platform --------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    p = generate_platform(n_accounts=3000, seed=2)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    return p, t, run_pipeline(t)


@pytest.fixture(scope="module")
def saved_model(small, tmp_path_factory):
    _, t, state = small
    model, _, summary = fit_model(t, state, params={"max_iter": 30}, seed=0)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    save_model(model, path, training={k: v for k, v in summary.items() if k != "train_nodes"})
    return path


@pytest.fixture(scope="module")
def model_scoring(small, saved_model):
    _, t, state = small
    return ModelScorer(model_path=saved_model).score(t, state)


def test_make_scorer():
    auto = make_scorer("auto", model_path="m.joblib", seed=4)
    assert isinstance(auto, ModelScorer)
    assert (auto.model_path, auto.seed) == ("m.joblib", 4)
    assert isinstance(make_scorer("propagation"), PropagationScorer)
    mine = PropagationScorer("mine")
    assert make_scorer(mine) is mine
    with pytest.raises(ValueError, match="scorer must be 'auto', 'propagation' or a Scorer, "
                                         "got 'model'"):
        make_scorer("model")
    with pytest.raises(TypeError, match="got None"):
        make_scorer(None)
    with pytest.raises(TypeError, match="score\\(tables, state, stages\\) method"):
        make_scorer(object())


def test_propagation_scorer_scores_are_the_propagation(small):
    _, t, state = small
    s = PropagationScorer().score(t, state)
    assert s.mode == "propagation" and s.info == {"reason": "no model given"}
    np.testing.assert_array_equal(s.scores, state.propagation["propagation_score"].to_numpy())
    assert s.explanations == {}
    stopped = run_pipeline(t, stop_after="clusters")
    with pytest.raises(ValueError, match="scoring needs the propagation stage"):
        PropagationScorer().score(t, stopped)


def test_model_scorer_with_a_saved_model_scores_every_account(small, saved_model,
                                                               model_scoring):
    p, _, state = small
    s = model_scoring
    assert s.mode == "model"
    assert s.info["source"] == str(saved_model)
    assert set(s.info["cv_metrics"]) >= {"roc_auc", "average_precision"}
    assert s.scores.shape == (3000,)
    assert np.isfinite(s.scores).all() and ((s.scores >= 0) & (s.scores <= 1)).all()
    # the scores mean something: hidden offenders (not yet banned) outrank everyone else
    unlabelled = eligible_nodes(state)
    offender = p.truth.set_index("account_id").loc[state.graph.account_ids, "is_offender"]
    offender = offender.to_numpy()
    assert (s.scores[unlabelled & offender].mean()
            > 2 * s.scores[unlabelled & ~offender].mean())


def test_model_explanations_cover_the_top_eligible_accounts_in_rank_order(small, model_scoring):
    _, _, state = small
    s = model_scoring
    eligible = eligible_nodes(state)
    assert eligible.sum() > EXPLAIN_LIMIT            # the limit matters on this platform
    top = rank_order(s.scores, eligible)[:EXPLAIN_LIMIT]
    explained = list(s.explanations)
    assert explained == [n for n in top if n in s.explanations]   # in rank order, top only
    assert len(explained) >= 0.9 * EXPLAIN_LIMIT     # only accounts with no positive
    banned = state.graph.status["banned"].to_numpy()   # contribution may lack a sentence
    cleared = state.graph.status["cleared"].to_numpy()
    assert not (banned[explained] | cleared[explained]).any()
    assert all(t.startswith("model, top contributions in log-odds: ")
               for t in s.explanations.values())


def test_model_explanations_stop_at_the_limit(small, saved_model, monkeypatch):
    _, t, state = small
    monkeypatch.setattr("ringfence.models.scoring.EXPLAIN_LIMIT", 25)
    s = ModelScorer(model_path=saved_model).score(t, state)
    top = rank_order(s.scores, eligible_nodes(state))[:25]
    assert set(s.explanations) <= set(top)
    assert list(s.explanations) == [n for n in top if n in s.explanations]


def test_rank_order_puts_ties_in_node_order():
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    eligible = np.array([True, True, True, False, True, True])
    np.testing.assert_array_equal(rank_order(scores, eligible), [1, 0, 2, 5, 4])
    np.testing.assert_array_equal(rank_order(np.zeros(4), np.ones(4, bool)), [0, 1, 2, 3])
    assert len(rank_order(scores, np.zeros(6, bool))) == 0
    # with the account ids, ties follow the ids: the same queue whatever the row order
    ids = np.array(["f", "e", "d", "c", "b", "a"], dtype=object)
    np.testing.assert_array_equal(rank_order(scores, eligible, ids), [1, 5, 2, 0, 4])
    np.testing.assert_array_equal(rank_order(np.zeros(4), np.ones(4, bool), ids[:4]),
                                  [3, 2, 1, 0])


def test_a_saved_model_is_read_once_per_run(small, saved_model, monkeypatch):
    # two reads would check the signature of one file and score with another if the
    # file were replaced in between (a nightly `ringfence train` racing the flag job)
    import ringfence.models.scoring as scoring

    reads = []

    def counting_load(*args, **kwargs):
        reads.append(args)
        return load_model(*args, **kwargs)

    monkeypatch.setattr(scoring, "load_model", counting_load)
    _, t, state = small
    s = ModelScorer(model_path=saved_model).score(t, state)
    assert len(reads) == 1
    assert np.isfinite(s.scores).all() and s.mode == "model"

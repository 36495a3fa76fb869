"""models/scoring.py: the model scorer falls back to propagation with few labels and beats it with enough."""

from __future__ import annotations


import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.clusters import find_clusters
from ringfence.graph.identity import link_identities
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.models.evaluate import evaluate_scores


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=8000, seed=11)


@pytest.fixture(scope="module")
def parts(platform):
    p = platform
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    g = build_graph(t)
    ident = link_identities(g)
    membership, _ = find_clusters(g)
    return t, g, ident, membership


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

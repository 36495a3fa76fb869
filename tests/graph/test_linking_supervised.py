"""graph/linking/supervised.py: the pair classifier that decides once reviewers decided enough."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities
from ringfence.graph.linking import IdentityLinker
from ringfence.graph.linking.supervised import PairClassifier, adjust_prior
from ringfence.graph.synth import generate_platform
from ringfence.graph.tables import load_tables
from ringfence.models.identity_quality import identity_quality


def test_match_share_is_estimated_without_labels_and_moves_the_probabilities():
    # one feature, normal in each class; the classifier learns on balanced pairs, the
    # candidates have 4 % matches: EM over the candidates' probabilities finds the 4 %
    rng = np.random.default_rng(0)
    y_train = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    x_train = rng.normal(np.where(y_train, 1.5, -1.5), 1.0)
    y_all = rng.random(100_000) < 0.04
    x_all = rng.normal(np.where(y_all, 1.5, -1.5), 1.0)
    clf = PairClassifier({"model": "logistic"}).fit(
        pd.DataFrame({"level": np.zeros(600, int), "x": x_train}), y_train,
        categorical=["level"], n_levels=[1])
    X = pd.DataFrame({"level": np.zeros(len(x_all), int), "x": x_all})
    clf.fit_share(X, start=0.3)
    assert clf.train_share_ == 0.5
    assert clf.match_share_ == pytest.approx(0.04, abs=0.006)
    p = clf.predict_proba()
    # calibrated at the candidates' share: the mean probability is the share of matches,
    # and a pair at x = 0 (even odds on balanced pairs) is now unlikely
    assert p.mean() == pytest.approx(y_all.mean(), abs=0.006)
    assert clf.predict_proba(pd.DataFrame({"level": [0], "x": [0.0]}))[0] < 0.1
    # without the shift the classifier would call many strangers matches
    assert (clf.raw_ >= 0.5).sum() > 2 * (p >= 0.5).sum()
    assert adjust_prior(np.array([0.5]), 0.5, 0.04)[0] == pytest.approx(0.04)


def test_supervised_settings_are_checked():
    assert IdentityLinker().get_params()["settings"]["supervised"]["min_decisions"] == 30
    with pytest.raises(ValueError, match="supervised: unknown setting 'min_decision'"):
        GraphConfig(linking={"supervised": {"min_decision": 10}})
    with pytest.raises(ValueError, match="supervised: model must be one of"):
        GraphConfig(linking={"supervised": {"model": "forest"}})
    with pytest.raises(ValueError, match="supervised: match_share must be in"):
        GraphConfig(linking={"supervised": {"match_share": 1.5}})

"""graph/linking/pooling.py: the classifier's share of the pooled weight, chosen by cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small_tables

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking import IdentityLinker
from ringfence.graph.linking.pooling import choose_share, log_loss, pair_folds
from ringfence.graph.linking.supervised import PairClassifier


def _decided(x: np.ndarray, y: np.ndarray) -> tuple[pd.DataFrame, PairClassifier]:
    X = pd.DataFrame({"level": np.zeros(len(y), int), "x": x})
    return X, PairClassifier().fit(X, y, categorical=["level"], n_levels=[1])


def test_the_share_goes_to_the_model_that_predicts_the_decisions():
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(150, bool), np.zeros(150, bool)]
    folds = pair_folds(np.arange(300).astype(str), np.full(300, "z"), y)
    # the classifier's feature separates the classes, Fellegi-Sunter's weight is noise
    X, clf = _decided(rng.normal(np.where(y, 1.5, -1.5), 1.0), y)
    clf.choose_share(X, y, folds, fs_weight=rng.normal(0, 1, 300), fs_prior=0.5)
    assert clf.classifier_share_ >= 0.8
    table = clf.share_table_
    assert table["log_loss"].idxmin() == table.index[
        table["classifier_share"] == clf.classifier_share_][0]
    # the other way round: a noise feature, an informative Fellegi-Sunter weight
    fs = np.where(y, 3.0, -3.0) + rng.normal(0, 1, 300)
    X, clf = _decided(rng.normal(0, 1, 300), y)
    clf.choose_share(X, y, folds, fs_weight=fs, fs_prior=0.5)
    assert clf.classifier_share_ <= 0.2
    # share 0 is Fellegi-Sunter alone (at its prior 0.5 = the decisions' share: no shift)
    assert clf.share_table_["log_loss"].iloc[0] == pytest.approx(log_loss(y, fs))
    # Fellegi-Sunter's odds are moved to the decisions' share of matches before pooling:
    # at a prior of 1 in 9 the same weights plus log2(8) are the same evidence
    X2, clf2 = _decided(X["x"].to_numpy(), y)
    clf2.choose_share(X2, y, folds, fs_weight=fs - 3.0, fs_prior=1 / 9)
    assert clf2.share_table_["log_loss"].to_numpy() == pytest.approx(
        clf.share_table_["log_loss"].to_numpy())
    # a fixed share is used as given
    fixed = PairClassifier({"classifier_share": 0.3}).fit(X, y, categorical=["level"],
                                                          n_levels=[1])
    fixed.choose_share(X, y, folds, fs_weight=fs, fs_prior=0.5)
    assert fixed.classifier_share_ == 0.3 and fixed.share_table_ is None


def test_choose_share_minimises_the_pooled_log_loss():
    y = np.array([True, True, False, False])
    # the classifier is right but overconfident on one pair, Fellegi-Sunter is timid
    share, table = choose_share(y, np.array([6.0, -6.0, -6.0, -6.0]), np.array([1.0, 1.0, -1.0,
                                                                                -1.0]))
    grid = table["classifier_share"].to_numpy()
    expected = [log_loss(y, s * np.array([6.0, -6, -6, -6]) + (1 - s) * np.array([1.0, 1, -1, -1]))
                for s in grid]
    assert table["log_loss"].to_numpy() == pytest.approx(expected)
    assert share == grid[int(np.argmin(expected))]
    assert 0 < share < 1  # neither model alone


def test_folds_are_stratified_and_do_not_depend_on_the_order_of_the_pairs():
    rng = np.random.default_rng(0)
    a = np.array([f"acc{i}" for i in rng.permutation(1000)[:200]])
    b = np.array([f"acc{i}" for i in range(1000, 1200)])
    y = rng.random(200) < 0.3
    folds = pair_folds(a, b, y, k=5)
    for cls in (True, False):
        counts = np.bincount(folds[y == cls], minlength=5)
        assert counts.max() - counts.min() <= 1
    order = rng.permutation(200)
    # shuffled pairs, and each pair's accounts the other way round: the same folds
    assert (pair_folds(b[order], a[order], y[order], k=5) == folds[order]).all()


def _evaders_and_households(n: int) -> list[tuple[str, str, str]]:
    rows = []
    for h in range(n):  # three people on one tablet, router and address; a card each
        for k in range(3):
            acc = f"h{h}_{k}"
            rows += [(acc, "device", f"hdev{h}"), (acc, "ip", f"10.{h // 250}.{h % 250}.1"),
                     (acc, "address", f"haddr{h}"), (acc, "card", f"hcard{h}_{k}")]
    for e in range(n):  # an evader keeps the card, nothing else
        for k in range(2):
            acc = f"e{e}_{k}"
            rows += [(acc, "card", f"ecard{e}"), (acc, "device", f"edev{e}_{k}")]
    return rows


def test_the_linker_pools_with_the_share_its_decisions_choose():
    rows = _evaders_and_households(60)
    g = build_graph(small_tables(sorted({r[0] for r in rows}), rows))
    decisions = pd.DataFrame(
        [(f"e{e}_0", f"e{e}_1", "same_actor") for e in range(30)]
        + [(f"h{h}_0", f"h{h}_1", "different_actors") for h in range(30)],
        columns=["account_a", "account_b", "decision"])
    linker = IdentityLinker().fit(g, decisions)
    clf = linker.classifier_
    assert clf is not None and clf.share_table_ is not None
    assert clf.classifier_share_ == clf.share_table_["classifier_share"].iloc[
        int(clf.share_table_["log_loss"].to_numpy().argmin())]
    links = linker.predict(reasons=False)
    p = clf.predict_proba()
    fs = linker._fs_weight()
    s = clf.classifier_share_
    assert links["match_weight"].to_numpy() == pytest.approx(
        s * (np.log2(p) - np.log2(1 - p)) + (1 - s) * fs)
    # the setting, when given, is used as is
    fixed = IdentityLinker({"supervised": {"classifier_share": 0.5}}).fit(g, decisions)
    assert fixed.classifier_.classifier_share_ == 0.5 and fixed.classifier_.share_table_ is None
    # and checked: null (choose by cross-validation) or a share in [0, 1]
    with pytest.raises(ValueError, match="classifier_share must be in"):
        GraphConfig(linking={"supervised": {"classifier_share": 1.5}})
    assert IdentityLinker().get_params()["settings"]["supervised"]["classifier_share"] is None

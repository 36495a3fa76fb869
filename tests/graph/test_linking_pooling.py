"""graph/linking/pooling.py: the classifier's share of the pooled weight, chosen by the identities
it makes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import households_and_evaders, small_tables

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking import IdentityLinker
from ringfence.graph.linking.pooling import choose_share


def test_the_share_is_read_from_the_identities_each_share_makes():
    # accounts 0-1-2: one actor whose chain only the classifier links (Fellegi-Sunter sees the
    # different emails); 3-4-5-6: two actors of a ring, 3-4 and 5-6, joined by 4-5 through a
    # shared device that Fellegi-Sunter links and the classifier does not; 9-10 nobody links
    a = np.array([0, 1, 3, 4, 5, 0, 3, 9])
    b = np.array([1, 2, 4, 5, 6, 2, 6, 10])
    clf = np.array([2.0, 2.0, 4.0, -4.0, 4.0, 0, 0, -5.0])
    fs = np.array([-2.0, -2.0, 4.0, 4.0, 4.0, 0, 0, -5.0])
    decided = np.array([False] * 5 + [True, True, False])
    same = np.array([False] * 5 + [True, False, False])
    share, table = choose_share(11, a, b, clf, fs, decided, same, decided, match_share=0.25)
    t = table.set_index("classifier_share")
    # below 0.5 the actor's chain is cut (0.5: weight 0, linked at probability 0.5)
    assert t.loc[0.4, "recovered"] == 0 and t.loc[0.5, "recovered"] == 1
    # the ring's two actors stay merged up to a classifier share of 0.5
    # (4-5: 4 (1 - s) - 4 s >= 0 for s <= 0.5)
    assert t.loc[0.5, "false_merges"] == 1 and t.loc[0.6, "false_merges"] == 0
    # with every same-actor decision recovered and no false merge the expected F1 is 1;
    # at 0.5, one of the one different-actor decisions is merged: precision
    # R M / (R M + F N) = 2 / (2 + 1 * 6) over the 8 candidates at a match share of 0.25
    assert t.loc[0.6, "expected_f1"] == pytest.approx(1.0)
    precision = 2 / (2 + 6)
    assert t.loc[0.5, "expected_f1"] == pytest.approx(2 * precision / (precision + 1))
    # ties (0.6 to 1.0) go to the share nearest an equal pool
    assert share == 0.6
    # decided pairs are judged without their own link: deciding 0-2 alone does not recover it
    linked = np.array([False] * 5 + [True, True, False])
    _, alone = choose_share(11, a, b, np.where(linked, 9.0, clf), fs, decided, same, decided,
                            match_share=0.25)
    assert alone["recovered"].tolist() == table["recovered"].tolist()
    # pairs nobody decided and no share links count only as candidates: left out, same table
    never = np.array([0, 1, 2, 3, 4, 5, 6])
    fewer, fewer_table = choose_share(11, a[never], b[never], clf[never], fs[never],
                                      decided[never], same[never], decided[never],
                                      match_share=0.25, candidates=8)
    pd.testing.assert_frame_equal(fewer_table, table)


def test_the_linker_pools_with_the_share_its_decisions_choose():
    rows = households_and_evaders(60, 60)
    g = build_graph(small_tables(sorted({r[0] for r in rows}), rows))
    decisions = pd.DataFrame(
        [(f"e{e}_0", f"e{e}_1", "same_actor") for e in range(30)]
        + [(f"h{h}_0", f"h{h}_1", "different_actors") for h in range(30)],
        columns=["account_a", "account_b", "decision"])
    linker = IdentityLinker().fit(g, decisions)
    table = linker.share_table_
    assert linker.classifier_ is not None and table is not None
    assert list(table.columns) == ["classifier_share", "recovered", "false_merges",
                                   "expected_f1", "standard_error"]
    assert len(table) == 11
    # the one-standard-error rule: within one standard error of the best, nearest 0.5
    best = table["expected_f1"].idxmax()
    near = table[table["expected_f1"] >= table["expected_f1"][best]
                 - table["standard_error"][best] - 1e-12]
    assert linker.classifier_share_ == near["classifier_share"].iloc[
        int((near["classifier_share"] - 0.5).abs().to_numpy().argmin())]
    links = linker.predict(reasons=False)
    p = linker.classifier_.predict_proba()
    s = linker.classifier_share_
    assert links["match_weight"].to_numpy() == pytest.approx(
        s * (np.log2(p) - np.log2(1 - p)) + (1 - s) * linker._fs_weight())
    # without choose_share, classifier_share is used as given
    fixed = IdentityLinker({"supervised": {"choose_share": False,
                                           "classifier_share": 0.3}}).fit(g, decisions)
    assert fixed.classifier_share_ == 0.3 and fixed.share_table_ is None
    # without decisions there is nothing to choose
    alone = IdentityLinker().fit(g)
    assert alone.classifier_share_ is None and alone.share_table_ is None
    with pytest.raises(ValueError, match="choose_share must be true or false"):
        GraphConfig(linking={"supervised": {"choose_share": "yes"}})

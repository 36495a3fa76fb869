"""graph/linking/supervised.py: the pair classifier that decides once reviewers decided enough."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import households_and_evaders, small_tables

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities
from ringfence.graph.linking import IdentityLinker
from ringfence.graph.linking.supervised import (SOFT_PAIRS, PairClassifier, adjust_prior,
                                                natural_candidates, soft_sample)
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
    # the logistic model is scored by table lookups: the same as scikit-learn's pipeline
    head = X.head(50)
    assert clf.predict_proba(head) == pytest.approx(
        adjust_prior(clf.model_.predict_proba(head)[:, 1], 0.5, clf.match_share_))


def test_supervised_settings_are_checked():
    assert IdentityLinker().get_params()["settings"]["supervised"]["min_decisions"] == 30
    with pytest.raises(ValueError, match="supervised: unknown setting 'min_decision'"):
        GraphConfig(linking={"supervised": {"min_decision": 10}})
    with pytest.raises(ValueError, match="supervised: model must be one of"):
        GraphConfig(linking={"supervised": {"model": "forest"}})
    with pytest.raises(ValueError, match="supervised: match_share must be in"):
        GraphConfig(linking={"supervised": {"match_share": 1.5}})
    with pytest.raises(ValueError, match="supervised: fs_prior must be >= 0"):
        GraphConfig(linking={"supervised": {"fs_prior": -1}})


def _decisions(pairs: list[tuple[str, str]], decision: str) -> pd.DataFrame:
    return pd.DataFrame({"account_a": [a for a, _ in pairs], "account_b": [b for _, b in pairs],
                         "decision": decision})


def test_enough_decisions_switch_on_the_classifier_and_decisions_stay_absolute():
    rows = households_and_evaders(60, 60)
    g = build_graph(small_tables(sorted({r[0] for r in rows}), rows))
    same = _decisions([(f"e{e}_0", f"e{e}_1") for e in range(25)], "same_actor")
    apart = _decisions([(f"h{h}_0", f"h{h}_1") for h in range(25)], "different_actors")
    # evader 50 decided apart, against all its evidence: the decision holds
    overruled = _decisions([("e50_0", "e50_1")], "different_actors")
    decisions = pd.concat([same, apart, overruled], ignore_index=True)
    few = IdentityLinker({"supervised": {"min_decisions": 26}}).fit(g, decisions)
    assert few.classifier_ is None  # 25 of each class: Fellegi-Sunter alone
    config = GraphConfig(linking={"supervised": {"min_decisions": 25}})
    ident = link_identities(g, config, decisions)
    linker = ident.linker
    assert linker.classifier_ is not None
    # the training rows: the 51 decisions and, weighing half as much, Fellegi-Sunter's
    # opinion of the undecided candidates (each twice: same actor with weight c * p,
    # different with c * (1 - p)); without that opinion, the decisions' share
    natural = natural_candidates(linker.compared_, linker.settings_["partial_candidates"])
    p_fs = 1 / (1 + np.exp2(-linker._fs_weight()[(linker.decided_ == "") & natural]))
    c = 0.5 * 51 / len(p_fs)
    assert linker.classifier_.train_share_ == pytest.approx(
        (25 + c * p_fs.sum()) / (51 + 0.5 * 51))
    alone = link_identities(g, GraphConfig(linking={"supervised": {
        "min_decisions": 25, "fs_prior": 0}}), decisions).linker
    assert alone.classifier_.train_share_ == pytest.approx(25 / 51)
    node = {a: i for i, a in enumerate(g.account_ids)}
    links = ident.links.set_index(["a", "b"])

    def link(x: str, y: str) -> pd.Series:
        return links.loc[tuple(sorted((node[x], node[y])))]

    # undecided pairs are judged by the pooled model, and say so
    evader, household = link("e55_0", "e55_1"), link("h55_0", "h55_2")
    assert evader["link_kind"] == "same_actor" and evader["match_probability"] > 0.5
    assert household["match_probability"] < 0.5
    assert evader["reason"].startswith("pair classifier ")
    assert " pooled with Fellegi-Sunter " in evader["reason"]
    assert ident.identity[node["e55_0"]] == ident.identity[node["e55_1"]] >= 0
    assert ident.identity[node["h55_0"]] == -1
    assert link("e50_0", "e50_1")["link_kind"] == "shared_environment"
    assert ident.identity[node["e50_0"]] != ident.identity[node["e50_1"]] \
        or ident.identity[node["e50_0"]] == -1
    # the Fellegi-Sunter explanation is still there: bf_* sum to its weight, not the pooled one
    bf = [c for c in ident.links.columns if c.startswith("bf_")]
    table = linker.explain(node["e55_0"], node["e55_1"])
    assert table["log2_bayes_factor"].iloc[1:].to_numpy() == pytest.approx(
        evader[bf].to_numpy(float))
    share = linker.classifier_share_
    p = linker.classifier_.predict_proba()
    pos = np.flatnonzero((linker.comparisons_.a == min(node["e55_0"], node["e55_1"]))
                         & (linker.comparisons_.b == max(node["e55_0"], node["e55_1"])))[0]
    assert evader["match_weight"] == pytest.approx(
        share * np.log2(p[pos] / (1 - p[pos])) + (1 - share) * table["log2_bayes_factor"].sum())


def _decided_platform(seed: int):
    """A 5,000-account platform with reviewer decisions on 20 % of the true pairs (and as many
    others): the platform, its tables, its graph and the truth in the graph's order."""
    p = generate_platform(5000, seed=seed, link_labels=0.2)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement,
                    link_decisions=p.link_decisions)
    g = build_graph(t)
    return p, t, g, p.truth.set_index("account_id").loc[g.account_ids].reset_index()


@pytest.mark.slow
def test_reviewer_decisions_lift_identity_quality_on_a_generated_platform():
    p, t, g, truth = _decided_platform(seed=2)

    def quality(min_decisions: int):
        config = dataclasses.replace(
            g.config, linking={"supervised": {"min_decisions": min_decisions}})
        ident = link_identities(g, config, t.link_decisions)
        return ident, identity_quality(np.asarray(ident.identity), truth)

    fs_ident, fs = quality(2**40)
    ident, q = quality(30)
    assert fs_ident.linker.classifier_ is None and ident.linker.classifier_ is not None
    # measured: F1 0.952 (precision 0.970, recall 0.936) against Fellegi-Sunter alone with
    # the same decisions 0.933 (0.969 / 0.901); households 0.000 in both. (Before the
    # sharing comparison, Fellegi-Sunter alone reached 0.855 and the margin was 0.05+.)
    assert q["f1"] >= fs["f1"] + 0.015
    assert q["precision"] >= 0.85 and q["recall"] >= 0.9
    assert q["household_share"] < 0.05
    # the match share among candidates, estimated without labels, is near the true one
    linker = ident.linker
    actor = truth["actor_id"].to_numpy()
    true_share = (actor[linker.comparisons_.a] == actor[linker.comparisons_.b]).mean()
    assert linker.classifier_.match_share_ == pytest.approx(true_share, rel=0.2)  # 0.041, 0.048
    # row order does not matter
    shuffled = load_tables(p.accounts, p.identifiers.sample(frac=1.0, random_state=1),
                           p.edges, p.enforcement,
                           link_decisions=p.link_decisions.sample(frac=1.0, random_state=2))
    again = link_identities(build_graph(shuffled), dataclasses.replace(
        g.config, linking={"supervised": {"min_decisions": 30}}), shuffled.link_decisions)
    assert (again.identity == ident.identity).all()
    cols = ["a", "b", "link_kind", "match_probability", "reason"]
    pd.testing.assert_frame_equal(again.links[cols], ident.links[cols])


def test_pair_context_reads_whether_a_shared_value_is_one_persons():
    # p1, p2: one person (the same email local part at two providers); x, y: two others.
    # Card c1 is p1's and p2's only; card c2 is used by p1, x and y (a ring's card)
    t = small_tables(["p1", "p2", "x", "y"], [
        ("p1", "email", "jo.doe@yahoo.com"), ("p2", "email", "jo.doe@outlook.com"),
        ("x", "email", "xx@yahoo.com"), ("y", "email", "yy@yahoo.com"),
        ("p1", "card", "c1"), ("p2", "card", "c1"),
        ("p1", "card", "c2"), ("x", "card", "c2"), ("y", "card", "c2")])
    g = build_graph(t)
    linker = IdentityLinker().fit(g)
    from ringfence.graph.linking.supervised import pair_context

    X = pair_context(g, linker.compared_)
    node = dict(zip(g.account_ids, range(g.n_accounts)))
    pairs = {(g.account_ids[a], g.account_ids[b]): i
             for i, (a, b) in enumerate(zip(linker.compared_.a, linker.compared_.b))}
    row = (lambda u, v: X.iloc[pairs[(u, v) if node[u] < node[v] else (v, u)]])
    # p1-p2 share c1, whose users are one personal group: mixing 0, and one person
    assert row("p1", "p2")["same_person"] == 1 and row("p1", "p2")["mixing"] == 0
    # x-y share only c2: three users in three personal groups (p1, x, y): 2 / 2 = 1
    assert row("x", "y")["same_person"] == 0 and row("x", "y")["mixing"] == 1
    assert row("p1", "x")["mixing"] == 1


@pytest.mark.slow
def test_the_classifier_learns_fellegi_sunters_opinion_where_reviewers_decided_nothing_alike():
    # Reviewers decided 20 % of the true pairs and as many others drawn from all the pairs
    # that share something; strangers behind a recycled phone number are few among those.
    # Taught by the decisions alone, the classifier read "same phone, one personal group"
    # as one actor and merged 124 stranger pairs (precision 0.52, F1 0.65). With
    # Fellegi-Sunter's opinion of the undecided pairs as soft labels (half the decisions'
    # weight), it says there what Fellegi-Sunter says: 3 stranger pairs, precision 0.69,
    # F1 0.77, recall unchanged (0.873 / 0.863).
    _, t, g, truth = _decided_platform(seed=4)
    candidates = (g.pairs["a"].to_numpy(), g.pairs["b"].to_numpy())

    def quality(fs_prior: float):
        config = dataclasses.replace(g.config, linking={"supervised": {"fs_prior": fs_prior}})
        ident = link_identities(g, config, t.link_decisions)
        assert ident.linker.classifier_ is not None
        return identity_quality(np.asarray(ident.identity), truth, candidates)

    alone, taught = quality(0.0), quality(0.5)
    assert alone["stranger_pairs_in_identity"] >= 60 and alone["f1"] < 0.7
    assert taught["stranger_pairs_in_identity"] <= 10
    assert taught["precision"] >= 0.65 and taught["f1"] >= 0.74
    assert taught["recall"] >= alone["recall"] - 0.02


def test_the_soft_sample_is_a_hash_of_the_pair_not_of_the_row_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10**9, 200_000)
    b = a + rng.integers(1, 10**6, len(a))
    keep = soft_sample(a, b, len(a))
    assert abs(keep.sum() - SOFT_PAIRS) < 0.03 * SOFT_PAIRS
    order = rng.permutation(len(a))
    assert (soft_sample(a[order], b[order], len(a)) == keep[order]).all()
    # a pair's fate does not depend on the other pairs, only on how many there are
    assert (soft_sample(a[:1000], b[:1000], len(a)) == keep[:1000]).all()
    assert soft_sample(a[:1000], b[:1000], SOFT_PAIRS).all()

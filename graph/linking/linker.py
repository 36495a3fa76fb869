"""IdentityLinker: one object, one declarative settings dictionary (as Splink's linker).

``fit`` finds the candidate pairs of an account graph, compares them
(:mod:`.comparisons`) and estimates the Fellegi-Sunter parameters by EM
(:mod:`.fellegi_sunter`), holding reviewer decisions at their class;
``predict`` gives every candidate pair its match weight, probability, kind and
the contribution of each comparison; ``weights_table`` and ``explain`` are the
tables behind each decision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.graph.build import AccountGraph
from ringfence.graph.linking.comparisons import Comparisons, compare_pairs
from ringfence.graph.linking.fellegi_sunter import (FSParameters, estimate_parameters,
                                                    match_weights, probability)
from ringfence.graph.linking.joint import combine_comparisons, pattern_states
from ringfence.graph.linking.mixing import SHARING, sharing_comparison
from ringfence.graph.linking.pooling import choose_share
from ringfence.graph.linking.sessions import estimate_by_sessions
from ringfence.graph.linking.supervised import (PairClassifier, check_settings,
                                                natural_candidates, pair_context,
                                                soft_sample, training_rows)
from ringfence.graph.params import ConfigError

__all__ = ["DEFAULT_SETTINGS", "IdentityLinker", "REASON_SEPARATOR", "ReasonWords",
           "SAME_ACTOR", "SHARED_ENVIRONMENT", "fit_parameters", "pooled_weight",
           "pooled_words", "reason_words", "weights_table"]

SAME_ACTOR, SHARED_ENVIRONMENT = "same_actor", "shared_environment"
DIFFERENT_ACTORS = "different_actors"

#: the linker's settings; a YAML config's ``linking:`` mapping is merged over these
DEFAULT_SETTINGS: dict[str, Any] = {
    # one comparison per identifier kind; kinds not listed get an exact comparison
    "comparisons": [
        {"name": "device", "kind": "device"},
        {"name": "card", "kind": "card"},
        {"name": "phone", "kind": "phone", "normalise": "phone"},
        {"name": "email", "kind": "email", "normalise": "email", "partial": "email_local"},
        {"name": "ip", "kind": "ip", "partial": "ip_network"},
        {"name": "address", "kind": "address"},
    ],
    "other_kinds": True,
    # upper edges of the bands of exact agreement by how many accounts use the value
    "hub_bands": [10],
    # values used by more accounts than this link nobody (default: the graph's share limits)
    "share_limits": {},
    "after_ban_days": 30,
    # comparisons whose partial key alone makes a candidate pair (IP networks do not:
    # strangers share a /24 by coincidence far more often than an actor's accounts do)
    "partial_candidates": ["email"],
    # comparisons that are not independent given the class, compared as one (a household
    # shares its device, IP and address at once: one by one they would count three times)
    "joint": [{"name": "environment", "of": ["device", "ip", "address"]}],
    # the "sharing" comparison (graph/linking/mixing.py): a pair whose shared devices,
    # cards, IPs and addresses are each used by several people (a mixing above this: more
    # than half of their other users are other people) is compared apart from a pair
    # sharing one person's values; None: no such comparison
    "sharing_several_above": 0.5,
    # EM sessions, each on the pairs that agree exactly on one of these (personal
    # identifiers), each estimating the m of the other comparisons; u from all candidate
    # pairs. One EM over all candidates finds "household or not" instead of "same actor or
    # not". Empty: one EM over all candidates
    "training_blocks": ["card", "email"],
    "prior": None,          # share of matches among candidates; None: estimated by EM
    "threshold": 0.5,       # match probability from which a pair is the same actor
    "max_identity_size": None,  # None: the graph's max_identity_size
    "phone_region": None,   # region for national phone numbers ("GB"); None: only +CC numbers
    "max_iter": 200,
    "tol": 1e-6,
    # fewer candidate pairs than this are too few to estimate m and u: these log2 Bayes
    # factors are used instead (close to the EM estimates on generated platforms)
    "min_pairs_for_em": 200,
    "default_bayes_factors": {
        "exact": {"device": 3.0, "card": 4.0, "phone": 4.0, "email": 4.0, "ip": 0.0,
                  "address": 0.0, "other": 2.0},
        "partial": 2.0,
        "different": {"card": -1.5, "phone": -1.5, "email": -1.5, "other": 0.0},
        "after ban": 2.0,
        "prior": -2.0,  # log2 odds: a pair without evidence is not linked
    },
    # with enough reviewer decisions of both classes, a pair classifier is pooled with the
    # model (graph/linking/supervised.py: min_decisions, model, C, max_iter, match_share,
    # classifier_share, choose_share)
    "supervised": {},
}
_KNOWN_NORMALISERS = (None, "email", "phone")
_KNOWN_PARTIALS = (None, "email_local", "ip_network")


#: between the phrases of a link's ``reason``
REASON_SEPARATOR = "; "


@dataclass(frozen=True)
class ReasonWords:
    """What one comparison says in a link's ``reason``, by its level: the one place for
    the phrases, which :meth:`IdentityLinker.reasons` (Arrow kernels) and the Spark links
    (:func:`ringfence.graph.spark.linking.reason_column`, column expressions) both build
    the text from.

    Attributes
    ----------
    agree : dict
        Level -> phrase among the agreements, below exact agreement (the partial level).
    exact_from : int or None
        From this level on (exact agreement): ``exact[0]``, the accounts using the rarest
        agreeing value, ``exact[1]``; None: no such phrase.
    exact : tuple of str
        The words before and after that count.
    differ : dict
        Level -> phrase among the differences.
    timing : dict
        Level -> phrase among the timing words (last).
    """

    agree: dict[int, str] = field(default_factory=dict)
    exact_from: int | None = None
    exact: tuple[str, str] = ("", "")
    differ: dict[int, str] = field(default_factory=dict)
    timing: dict[int, str] = field(default_factory=dict)


def reason_words(name: str, level_names: list[str], after_ban_days: float) -> ReasonWords:
    """The phrases of comparison ``name`` (levels ``level_names``, before joint comparisons
    are combined) in a link's reason. A reason lists every comparison's agreement phrase,
    then every difference, then the timing, joined by :data:`REASON_SEPARATOR`.

    >>> w = reason_words("email", ["null", "different", "partial", "exact, shared by 2"], 30)
    >>> w.agree, w.exact_from, w.exact, w.differ
    ({2: 'same email local part'}, 3, ('same email (used by ', ')'), {1: 'different email'})
    >>> reason_words("timing", ["null", "other", "after ban"], 30).timing
    {2: "created within 30 days after the other's ban"}
    """
    if name == "timing":
        return ReasonWords(timing={2: f"created within {after_ban_days} days after the "
                                      "other's ban"})
    if name == SHARING:
        return ReasonWords(agree={2: "shares values only one person's accounts use"},
                           differ={1: "shares only values several people use"})
    partial = "partial" in level_names
    agree = {2: "same email local part" if name == "email" else f"same {name} network"} \
        if partial else {}
    return ReasonWords(agree=agree, exact_from=3 if partial else 2,
                       exact=(f"same {name} (used by ", ")"), differ={1: f"different {name}"})


def pooled_words(p_classifier: np.ndarray, p_fs: np.ndarray) -> pa.Array:
    """The first phrase of a link's reason when the pair classifier is pooled: both models'
    probabilities, rounded to 2 digits by Arrow (the Spark links call this function too,
    so the digits are the same). Cost: O(pairs), Arrow kernels.

    >>> pooled_words(np.array([0.8149]), np.array([0.3])).to_pylist()
    ['pair classifier 0.81 pooled with Fellegi-Sunter 0.3']
    """
    big = (lambda text: pa.scalar(text, pa.large_string()))
    text = [pc.cast(pc.round(pa.array(np.asarray(x, float)), 2), pa.large_string())
            for x in (p_classifier, p_fs)]
    return pc.binary_join_element_wise(big("pair classifier "), text[0],
                                       big(" pooled with Fellegi-Sunter "), text[1], big(""))


def _settings(given: dict | None) -> dict[str, Any]:
    out = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (given or {}).items():
        if key not in out:
            raise ConfigError(f"linking: unknown setting {key!r} (known: {', '.join(out)})")
        out[key] = copy.deepcopy(value)
    for c in out["comparisons"]:
        if not isinstance(c, dict) or "kind" not in c:
            raise ConfigError(f"linking: each comparison needs a kind, got {c!r}")
        c.setdefault("name", c["kind"])
        if c.get("normalise") not in _KNOWN_NORMALISERS:
            raise ConfigError(f"linking: comparison {c['name']!r}: normalise must be one of "
                              f"{_KNOWN_NORMALISERS}, got {c.get('normalise')!r}")
        if c.get("partial") not in _KNOWN_PARTIALS:
            raise ConfigError(f"linking: comparison {c['name']!r}: partial must be one of "
                              f"{_KNOWN_PARTIALS}, got {c.get('partial')!r}")
    if not 0 < float(out["threshold"]) < 1:
        raise ConfigError(f"linking: threshold must be in (0, 1), got {out['threshold']!r}")
    if out["prior"] is not None and not 0 < float(out["prior"]) < 1:
        raise ConfigError(f"linking: prior must be in (0, 1) or null, got {out['prior']!r}")
    for j in out["joint"]:
        if not isinstance(j, dict) or "name" not in j or "of" not in j:
            raise ConfigError(f"linking: each joint comparison needs a name and 'of', got {j!r}")
    above = out["sharing_several_above"]
    if above is not None and (isinstance(above, bool) or not isinstance(above, (int, float))
                              or not 0 <= float(above) < 1):
        raise ConfigError("linking: sharing_several_above must be in [0, 1) or null, "
                          f"got {above!r}")
    if any(int(b) < 2 for b in out["hub_bands"]):
        raise ConfigError(f"linking: hub_bands must be >= 2, got {out['hub_bands']!r}")
    out["supervised"] = check_settings(out["supervised"])
    return out


def _default_parameters(comp: Comparisons, s: dict[str, Any], raw_names: list[str]
                        ) -> FSParameters:
    """Parameters from ``default_bayes_factors`` (too few pairs to estimate them);
    ``raw_names``: the comparisons before joint ones were combined."""
    table = s["default_bayes_factors"]
    joint = {j["name"]: [k for k in j["of"] if k in raw_names]
             for j in s["joint"]}
    ms, us = [], []
    for name, levels in zip(comp.names, comp.level_names):
        bits = np.zeros(len(levels))
        for i, level in enumerate(levels):
            if name in joint and i:
                # a joint level: the members' own defaults, summed ("shared widely": none)
                for member, state in zip(joint[name], pattern_states(len(joint[name]))[i - 1]):
                    if state == "same":
                        bits[i] += table["exact"].get(member, table["exact"]["other"])
                    elif state == "different":
                        bits[i] += table["different"].get(member, table["different"]["other"])
            elif level.startswith("exact"):
                bits[i] = table["exact"].get(name, table["exact"]["other"])
            elif level == "partial":
                bits[i] = table["partial"]
            elif level == "different":
                bits[i] = table["different"].get(name, table["different"]["other"])
            elif level == "after ban":
                bits[i] = table["after ban"]
        m, u = np.exp2(bits) / (1 + np.exp2(bits)), 1 / (1 + np.exp2(bits))
        m[0] = u[0] = 1.0
        ms.append(m)
        us.append(u)
    prior = 1 / (1 + np.exp2(-table["prior"])) if s["prior"] is None else float(s["prior"])
    return FSParameters(m=ms, u=us, prior=prior, iterations=0, converged=True)


def fit_parameters(comp: Comparisons, labels: np.ndarray, settings: dict[str, Any],
                   raw_names: list[str], counts: np.ndarray | None = None) -> FSParameters:
    """m, u and the prior of the linker: EM sessions on the training blocks, one EM over
    every pair when no pair agrees on a block, the defaults below ``min_pairs_for_em``.

    ``comp`` holds the (joint) comparison levels; its rows are pairs, or distinct
    patterns with ``counts`` pairs each (the Spark linker's pattern counts: the same
    estimate); ``labels`` per row 1 / 0 / -1 (decided same actor / different / not);
    ``settings`` resolved (:meth:`IdentityLinker.get_params`); ``raw_names`` the
    comparisons before joint ones were combined. Cost: EM over the distinct patterns.
    """
    s = settings
    n_levels = [len(x) for x in comp.level_names]
    n_pairs = len(comp) if counts is None else int(np.sum(counts))
    fitted = None
    if n_pairs >= int(s["min_pairs_for_em"]):
        blocks = {comp.names.index(b): comp.level_names[comp.names.index(b)].index("different")
                  + 1 + ("partial" in comp.level_names[comp.names.index(b)])
                  for b in s["training_blocks"] if b in comp.names}
        fitted = estimate_by_sessions(comp.levels, n_levels, blocks, labels=labels,
                                      max_iter=int(s["max_iter"]), tol=float(s["tol"]),
                                      counts=counts)
        if fitted is None:  # no pair agrees on any training block
            fitted = estimate_parameters(comp.levels, n_levels, labels=labels,
                                         prior=s["prior"], max_iter=int(s["max_iter"]),
                                         tol=float(s["tol"]), counts=counts)
        elif s["prior"] is not None:
            fitted.prior = float(s["prior"])
    return fitted or _default_parameters(comp, s, raw_names)


def pooled_weight(p: np.ndarray, fs_weight: np.ndarray, share: float) -> np.ndarray:
    """The classifier's log2 odds (of its probabilities ``p``) and Fellegi-Sunter's
    ``fs_weight``, averaged with the ``share`` of the classifier (a logarithmic opinion
    pool: both are odds at the candidates' match share; alone, the classifier on a few
    hundred decisions takes a ring's shared proxy for one actor, and Fellegi-Sunter misses
    what its independence assumption cannot express).

    >>> pooled_weight(np.array([0.8]), np.array([-2.0]), 0.5).round(9).tolist()
    [0.0]
    """
    return share * (np.log2(p) - np.log2(1 - p)) + (1 - share) * fs_weight


def weights_table(params: FSParameters, names: list[str], level_names: list[list[str]],
                  levels: np.ndarray, counts: np.ndarray | None = None) -> pd.DataFrame:
    """One row per comparison level: ``comparison``, ``level``, ``m``, ``u``,
    ``log2_bayes_factor``, ``pairs`` (candidate pairs at that level); the prior first.

    ``levels`` holds a row of levels (one column per comparison of ``names``) per pair,
    or per distinct pattern with ``counts`` pairs each (the Spark linker's pattern
    table). Cost: O(rows x comparisons).

    >>> p = FSParameters(m=[np.array([1.0, 0.2, 0.8])], u=[np.array([1.0, 0.8, 0.2])],
    ...                  prior=0.2)
    >>> t = weights_table(p, ["card"], [["null", "different", "exact"]],
    ...                   np.array([[2], [1]]), counts=np.array([3, 5]))
    >>> t[["level", "log2_bayes_factor", "pairs"]].values.tolist()
    [['', -2.0, 8], ['null', 0.0, 0], ['different', -2.0, 5], ['exact', 2.0, 3]]
    """
    p = params
    rows = [{"comparison": "prior", "level": "", "m": p.prior, "u": 1 - p.prior,
             "log2_bayes_factor": float(np.log2(p.prior / (1 - p.prior))),
             "pairs": len(levels) if counts is None else int(np.sum(counts))}]
    for j, (name, lnames) in enumerate(zip(names, level_names)):
        n = np.bincount(levels[:, j], weights=counts, minlength=len(lnames))
        for k, lname in enumerate(lnames):
            rows.append({"comparison": name, "level": lname, "m": float(p.m[j][k]),
                         "u": float(p.u[j][k]),
                         "log2_bayes_factor": float(np.log2(p.m[j][k] / p.u[j][k])),
                         "pairs": int(n[k])})
    return pd.DataFrame(rows)


class IdentityLinker:
    """Decides which accounts are the same actor, Fellegi-Sunter style.

    Parameters
    ----------
    settings
        Merged over :data:`DEFAULT_SETTINGS`: ``comparisons`` (one per
        identifier kind: ``name``, ``kind``, ``normalise`` ``"email"`` /
        ``"phone"``, ``partial`` ``"email_local"`` / ``"ip_network"``),
        ``hub_bands``, ``share_limits``, ``after_ban_days``, ``joint``
        (``[{"name", "of": [comparison names]}]``: compared as one),
        ``training_blocks`` (comparisons that block one EM session each), ``prior``,
        ``threshold``, ``max_identity_size``, ``phone_region``, ``max_iter``,
        ``tol``, ``supervised`` (the pair classifier used once reviewers decided
        enough candidate pairs of both classes:
        :data:`ringfence.graph.linking.supervised.SUPERVISED_DEFAULTS`).

    Attributes
    ----------
    params_ : FSParameters
        m, u and the prior after :meth:`fit`.
    comparisons_ : Comparisons
        The candidate pairs of the fitted graph and their levels.
    classifier_ : PairClassifier or None
        Fitted on the decided candidate pairs when each class has at least
        ``supervised.min_decisions`` of them; then :meth:`predict`'s
        ``match_weight`` pools its log2 odds with Fellegi-Sunter's (the
        ``bf_*`` columns and :meth:`explain` stay Fellegi-Sunter's part), and
        ``reason`` starts with both models' probabilities. None: Fellegi-Sunter
        alone, as without decisions.
    classifier_share_ : float or None
        The classifier's part of the pooled match weight (with
        :attr:`classifier_`): ``supervised.classifier_share``, or with
        ``supervised.choose_share`` the share whose identities best agree with
        the decisions (:func:`.pooling.choose_share`).
    share_table_ : pandas.DataFrame or None
        The table behind that choice (decisions recovered, false merges and
        expected F1 per share), when the share was chosen.

    Examples
    --------
    >>> from ringfence.graph.synth import generate_platform
    >>> from ringfence.graph.tables import load_tables
    >>> from ringfence.graph.build import build_graph
    >>> p = generate_platform(2000, seed=3)
    >>> g = build_graph(load_tables(p.accounts, p.identifiers))
    >>> linker = IdentityLinker({"threshold": 0.5}).fit(g)
    >>> links = linker.predict()
    >>> sorted(links["link_kind"].unique())
    ['same_actor', 'shared_environment']
    >>> row = links.iloc[0]
    >>> bool(np.isclose(linker.explain(row["a"], row["b"])["log2_bayes_factor"].sum(),
    ...                 row["match_weight"]))
    True
    """

    def __init__(self, settings: dict | None = None):
        self.settings = settings

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings, completed with the defaults (as scikit-learn's ``get_params``)."""
        return {"settings": _settings(self.settings)}

    def _resolved(self, graph: AccountGraph) -> dict[str, Any]:
        s = _settings(self.settings)
        limits = {k: int(s["share_limits"].get(k, graph.config.share_limit(k)))
                  for k in set(graph.kind_names) | {c["kind"] for c in s["comparisons"]}}
        s["share_limits"] = limits
        if s["max_identity_size"] is None:
            s["max_identity_size"] = graph.config.max_identity_size
        return s

    def fit(self, graph: AccountGraph, decisions: pd.DataFrame | None = None) -> "IdentityLinker":
        """Compare the candidate pairs of ``graph`` and estimate m, u and the prior.

        Parameters
        ----------
        graph
            From :func:`ringfence.graph.build.build_graph`.
        decisions
            Reviewer link decisions (``account_a``, ``account_b``,
            ``decision`` ``"same_actor"`` / ``"different_actors"``), or None.
            Decided pairs become candidates, keep their class during EM (so
            they feed m and u) and are honoured by :meth:`predict`. With at
            least ``supervised.min_decisions`` decided candidate pairs of each
            class (pairs that share something without the decision), a pair
            classifier is fitted on them too (:mod:`.supervised`).

        Returns
        -------
        IdentityLinker
            ``self``.

        Notes
        -----
        Cost: O(P log P) for P (pair, shared value) rows, plus EM over the
        distinct comparison vectors; with the classifier, O(P) more to score
        every candidate.
        """
        s = self._resolved(graph)
        self.settings_ = s
        self.graph_ = graph
        da = db = np.empty(0, np.int64)
        dec = np.empty(0, dtype=object)
        if decisions is not None and len(decisions):
            da = graph.nodes(decisions["account_a"].astype(str).to_numpy())
            db = graph.nodes(decisions["account_b"].astype(str).to_numpy())
            dec = decisions["decision"].astype(str).to_numpy()
        compared = compare_pairs(graph, s, (da, db))
        self.groups_: np.ndarray | None = None
        if s["sharing_several_above"] is not None:
            compared, self.groups_ = sharing_comparison(graph, compared,
                                                        float(s["sharing_several_above"]))
        comp = compared
        for j in s["joint"]:
            comp = combine_comparisons(comp, j["name"], list(j["of"]))
        n = graph.n_accounts
        key = comp.a * n + comp.b
        decided = np.full(len(comp), "", dtype=object)
        if len(da):
            pos = np.searchsorted(key, np.minimum(da, db) * n + np.maximum(da, db))
            decided[pos] = dec
        labels = np.where(decided == SAME_ACTOR, 1, np.where(decided == DIFFERENT_ACTORS, 0, -1))
        self.comparisons_: Comparisons = comp
        self.compared_: Comparisons = compared
        self.decided_ = decided
        n_levels = [len(x) for x in comp.level_names]
        self.params_: FSParameters = fit_parameters(comp, labels, s, compared.names)
        self.classifier_: PairClassifier | None = None
        self.classifier_share_: float | None = None
        self.share_table_: pd.DataFrame | None = None
        trained = natural_candidates(compared, s["partial_candidates"]) & (labels >= 0) \
            if len(da) else np.zeros(len(comp), bool)
        if len(da) and min((labels[trained] == 1).sum(), (labels[trained] == 0).sum()) \
                >= s["supervised"]["min_decisions"]:
            X = self._features()
            fs_prior = float(s["supervised"]["fs_prior"])
            soft = np.empty(0, np.int64)
            if fs_prior > 0:
                undecided = labels < 0
                soft = np.flatnonzero(
                    undecided & natural_candidates(compared, s["partial_candidates"])
                    & soft_sample(comp.a, comp.b, int(undecided.sum())))
            rows, y, w = training_rows(np.flatnonzero(trained), labels[trained] == 1, soft,
                                       X["fs_weight"].to_numpy(), fs_prior)
            self.classifier_ = PairClassifier(s["supervised"]).fit(
                X.iloc[rows], y, categorical=list(comp.names), n_levels=n_levels,
                sample_weight=w)
            self.classifier_.fit_share(X, start=self.params_.prior)
            self.classifier_share_ = float(s["supervised"]["classifier_share"])
            if s["supervised"]["choose_share"]:
                p = self.classifier_.predict_proba()
                self.classifier_share_, self.share_table_ = choose_share(
                    n, comp.a, comp.b, np.log2(p) - np.log2(1 - p),
                    X["fs_weight"].to_numpy(), labels >= 0, labels == 1, trained,
                    self.classifier_.match_share_, float(s["threshold"]))
        return self

    def _pooled_weight(self, fs_weight: np.ndarray) -> np.ndarray:
        return pooled_weight(self.classifier_.predict_proba(), fs_weight,
                             self.classifier_share_)

    def _fs_weight(self) -> np.ndarray:
        p = self.params_
        return np.log2(p.prior / (1 - p.prior)) \
            + match_weights(self.comparisons_.levels, p).sum(axis=1)

    def _features(self) -> pd.DataFrame:
        """The pair classifier's input: every comparison's level, the Fellegi-Sunter
        weight and the pair context (:func:`.supervised.pair_context`)."""
        comp = self.comparisons_
        X = pd.DataFrame(comp.levels, columns=comp.names)
        X["fs_weight"] = self._fs_weight()
        context = pair_context(self.graph_, self.compared_, self.groups_)
        return pd.concat([X, context], axis=1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ValueError("IdentityLinker is not fitted: call fit(graph) first")

    def weights_table(self) -> pd.DataFrame:
        """One row per comparison level: ``comparison``, ``level``, ``m``, ``u``,
        ``log2_bayes_factor``, ``pairs`` (candidate pairs at that level); the
        prior first. The table behind a match-weight chart."""
        self._check_fitted()
        comp = self.comparisons_
        return weights_table(self.params_, comp.names, comp.level_names, comp.levels)

    def predict(self, reasons: bool = True) -> pd.DataFrame:
        """Every candidate pair of the fitted graph with its evidence.

        Returns
        -------
        pandas.DataFrame
            ``a``, ``b`` (nodes, ``a < b``), ``match_weight`` (log2 odds; with
            :attr:`classifier_`, pooled with the classifier's), ``match_probability``,
            ``link_kind`` (``"same_actor"`` from the
            threshold on, or decided so; else ``"shared_environment"``),
            ``bf_<comparison>`` (each comparison's log2 Bayes factor, 0 where
            null), ``reason`` (short words), ``decided`` (the reviewer's
            decision or ``""``). A ``different_actors`` decision is never
            overridden. ``reasons=False`` leaves ``reason`` empty (see
            :meth:`reasons`; words for every candidate cost time at scale).
        """
        self._check_fitted()
        comp, p, s = self.comparisons_, self.params_, self.settings_
        bf = match_weights(comp.levels, p)
        weight = np.log2(p.prior / (1 - p.prior)) + bf.sum(axis=1)
        prob = probability(weight)
        if self.classifier_ is not None:  # the pooled model decides; bf_* explain FS's part
            weight = self._pooled_weight(weight)
            prob = probability(weight)
        same = ((prob >= s["threshold"]) | (self.decided_ == SAME_ACTOR)) \
            & (self.decided_ != DIFFERENT_ACTORS)
        out = pd.DataFrame({"a": comp.a, "b": comp.b, "match_weight": weight,
                            "match_probability": prob,
                            "link_kind": np.where(same, SAME_ACTOR, SHARED_ENVIRONMENT)})
        for j, name in enumerate(comp.names):
            out[f"bf_{name}"] = bf[:, j]
        out["reason"] = self.reasons(np.arange(len(comp))) if reasons else ""
        out["decided"] = self.decided_
        return out

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        """Short words for candidate pairs ``rows`` (positions in :meth:`predict`'s table):
        agreements first, then differences, then timing. Built by Arrow's string kernels
        (one call per comparison and a join), no Python loop over pairs."""
        comp = self.compared_  # word by word, before joint comparisons are combined
        lv, by = comp.levels[rows], comp.shared_by[rows]
        null = pa.scalar(None, pa.large_string())
        big = (lambda text: pa.scalar(text, pa.large_string()))
        agree, differ, timing = [], [], []
        for j, (name, levels) in enumerate(zip(comp.names, comp.level_names)):
            words = reason_words(name, levels, self.settings_["after_ban_days"])
            level_j = pa.array(lv[:, j].astype(np.int64))

            def at(phrases: dict[int, str], phrase: pa.Array | None = None) -> pa.Array | None:
                for level, text in phrases.items():
                    phrase = pc.if_else(pc.equal(level_j, level), big(text),
                                        null if phrase is None else phrase)
                return phrase

            exact = None
            if words.exact_from is not None:
                exact = pc.if_else(
                    pc.greater_equal(level_j, words.exact_from),
                    pc.binary_join_element_wise(
                        big(words.exact[0]), pc.cast(pa.array(by[:, j]), pa.large_string()),
                        big(words.exact[1]), big("")), null)
            for section, phrase in ((agree, at(words.agree, exact)), (differ, at(words.differ)),
                                    (timing, at(words.timing))):
                if phrase is not None:
                    section.append(phrase)
        if self.classifier_ is not None:  # say which model decided, and what each said
            agree.insert(0, pooled_words(self.classifier_.predict_proba()[rows],
                                         probability(self._fs_weight()[rows])))
        parts = [p.cast(pa.large_string()) for p in agree + differ + timing]
        if not parts or not len(rows):
            return np.full(len(rows), "", dtype=object)
        # null_handling="skip" loses rows whose every part is null (pyarrow 26): join the
        # parts with empty strings for nulls, then squeeze the separators
        text = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts],
                                           big(REASON_SEPARATOR))
        text = pc.utf8_trim(pc.replace_substring_regex(text, "(; )+", "; "), "; ")
        return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)

    def explain(self, a: int, b: int) -> pd.DataFrame:
        """Why nodes ``a`` and ``b`` are (not) the same actor: the prior and one row
        per comparison with its level, m, u and ``log2_bayes_factor``; the
        factors sum to the pair's match weight. Raises KeyError for a pair that
        is no candidate (it shares nothing)."""
        self._check_fitted()
        comp, p = self.comparisons_, self.params_
        lo, hi = min(int(a), int(b)), max(int(a), int(b))
        n = self.graph_.n_accounts
        key = comp.a * n + comp.b
        pos = int(np.searchsorted(key, lo * n + hi))
        if pos >= len(key) or key[pos] != lo * n + hi:
            raise KeyError(f"nodes {lo} and {hi} are no candidate pair (they share nothing)")
        rows = [{"comparison": "prior", "level": "", "m": p.prior, "u": 1 - p.prior,
                 "log2_bayes_factor": float(np.log2(p.prior / (1 - p.prior)))}]
        for j, (name, levels) in enumerate(zip(comp.names, comp.level_names)):
            lv = int(comp.levels[pos, j])
            rows.append({"comparison": name, "level": levels[lv], "m": float(p.m[j][lv]),
                         "u": float(p.u[j][lv]),
                         "log2_bayes_factor": float(np.log2(p.m[j][lv] / p.u[j][lv]))})
        return pd.DataFrame(rows)

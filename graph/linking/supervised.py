"""A supervised pair classifier for identity linking, once reviewers decided enough pairs.

Fellegi-Sunter multiplies the evidence of its comparisons as if they were
independent within each class, and that assumption is its ceiling: fitted on
the truth itself, the model reaches a pairwise F1 of about 0.75 on the
synthetic platform. Reviewers' decisions on both classes let the linker learn
how the evidence combines instead: a classifier on the same comparison levels
(as categories), the Fellegi-Sunter match weight itself, and cheap pair
context (how many accounts use the values the pair shares, how many values
it shares, how many candidates each account has, an edge between them, the
gap between their first activities).

Two things make its probability mean what Fellegi-Sunter's means:

- **Which pairs it learns from.** Decided pairs that would be candidates
  without the decision (a reviewer judges the pairs the tool shows; a
  same-actor pair that shares nothing has a comparison vector the model never
  has to score).
- **The prior.** Reviewers decide about as many pairs of each class, while
  among the candidates matches are a few percent. The classifier's odds are
  divided by the odds of its training pairs and multiplied by the odds of a
  match among the candidates; that share is estimated without labels, by EM
  over every candidate's probability (Saerens, Latinne & Decaestecker 2002),
  starting from the Fellegi-Sunter prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ringfence.graph.build import AccountGraph
from ringfence.graph.linking.comparisons import Comparisons, _lookup
from ringfence.graph.linking.mixing import SHARING, personal_groups, value_mixing
from ringfence.graph.params import ConfigError

__all__ = ["SOFT_PAIRS", "SUPERVISED_DEFAULTS", "PairClassifier", "adjust_prior",
           "check_settings", "context_features", "natural_candidates", "pair_context",
           "soft_labels", "soft_sample", "training_rows"]

#: ``linking: {supervised: ...}``, merged over these
SUPERVISED_DEFAULTS: dict[str, Any] = {
    # fewer decided candidate pairs of either class than this: Fellegi-Sunter decides alone
    "min_decisions": 30,
    "model": "logistic",        # or "gradient_boosting"
    "C": 1.0,                   # inverse L2 strength of the logistic model
    "max_iter": 100,            # boosting iterations of the gradient-boosting model
    # share of matches among candidates: None estimates it by EM from the classifier
    "match_share": None,
    # the classifier's part of the pooled match weight (the rest: Fellegi-Sunter's); 1: the
    # classifier alone
    "classifier_share": 0.5,
    # choose that share from the decisions instead: the one whose identities best agree with
    # them (graph/linking/pooling.py); False: classifier_share as given
    "choose_share": True,
    # weight, against the decisions', of Fellegi-Sunter's opinion of undecided candidates,
    # taught to the classifier as soft labels (where reviewers decided nothing alike, the
    # classifier then says what Fellegi-Sunter says); 0: the decisions alone
    "fs_prior": 0.5,
}
_MODELS = ("logistic", "gradient_boosting")
#: about this many undecided candidates (before keeping the natural ones) carry
#: Fellegi-Sunter's soft labels: enough to cover every comparison pattern that matters,
#: few enough for the driver (the Spark linker collects them)
SOFT_PAIRS = 20_000
_P = 2**31 - 1  # a prime: the sampling hash is exact in int64 on both engines
_HASH = (48271, 69621, 16807, 12345)  # soft_sample's multipliers and offset, both engines
_NS_DAY = 86_400 * 10**9
_CHUNK = 1 << 20  # rows per prediction call: bounds the memory of one-hot blocks


def check_settings(given: Any) -> dict[str, Any]:
    """``supervised`` settings merged over :data:`SUPERVISED_DEFAULTS`; ConfigError names
    the bad key.

    >>> check_settings({"min_decisions": 20})["model"]
    'logistic'
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError(f"linking: supervised must be a mapping, got {given!r}")
    out = dict(SUPERVISED_DEFAULTS)
    for key, value in given.items():
        if key not in out:
            raise ConfigError(f"linking: supervised: unknown setting {key!r} "
                             f"(known: {', '.join(out)})")
        out[key] = value
    if not isinstance(out["min_decisions"], int) or out["min_decisions"] < 2:
        raise ConfigError("linking: supervised: min_decisions must be an integer >= 2, got "
                         f"{out['min_decisions']!r}")
    if out["model"] not in _MODELS:
        raise ConfigError(f"linking: supervised: model must be one of {_MODELS}, got "
                         f"{out['model']!r}")
    if not float(out["C"]) > 0:
        raise ConfigError(f"linking: supervised: C must be > 0, got {out['C']!r}")
    if not isinstance(out["max_iter"], int) or out["max_iter"] < 1:
        raise ConfigError(f"linking: supervised: max_iter must be an integer >= 1, got "
                         f"{out['max_iter']!r}")
    if not 0 < float(out["classifier_share"]) <= 1:
        raise ConfigError(f"linking: supervised: classifier_share must be in (0, 1], got "
                          f"{out['classifier_share']!r}")
    if not float(out["fs_prior"]) >= 0:
        raise ConfigError(f"linking: supervised: fs_prior must be >= 0, got "
                          f"{out['fs_prior']!r}")
    if not isinstance(out["choose_share"], bool):
        raise ConfigError(f"linking: supervised: choose_share must be true or false, got "
                          f"{out['choose_share']!r}")
    share = out["match_share"]
    if share is not None and not 0 < float(share) < 1:
        raise ConfigError(f"linking: supervised: match_share must be in (0, 1) or null, got "
                         f"{share!r}")
    return out


def natural_candidates(compared: Comparisons, partial_candidates: list[str]) -> np.ndarray:
    """Per pair, True when it would be a candidate without a reviewer's decision: it agrees
    exactly on some comparison, or partially on one of ``partial_candidates``.

    >>> c = Comparisons(a=np.arange(3), b=np.arange(1, 4),
    ...                 levels=np.array([[2, 1], [1, 2], [1, 1]], np.int8),
    ...                 names=["email", "ip"],
    ...                 level_names=[["null", "different", "partial", "exact, shared by 2"]] * 2,
    ...                 shared_by=np.zeros((3, 2), np.int32))
    >>> natural_candidates(c, ["email"]).tolist()
    [True, False, False]
    """
    out = np.zeros(len(compared), bool)
    for j, (name, levels) in enumerate(zip(compared.names, compared.level_names)):
        if name in ("timing", SHARING):
            continue
        first_exact = 3 if "partial" in levels else 2
        lv = compared.levels[:, j]
        out |= lv >= first_exact
        if first_exact == 3 and name in partial_candidates:
            out |= lv == 2
    return out


def soft_sample(a: np.ndarray, b: np.ndarray, undecided: int,
                limit: int = SOFT_PAIRS) -> np.ndarray:
    """Per pair of nodes ``(a, b)``, True when it is among the undecided candidates whose
    Fellegi-Sunter opinion teaches the classifier: all of them when there are at most
    ``limit`` (``undecided`` of them in all), else a share ``limit / undecided`` chosen by
    a hash of the two node numbers (the same pairs whatever the order of the input rows,
    and on either engine: :func:`ringfence.graph.spark.linking` computes the same hash).

    >>> soft_sample(np.arange(6), np.arange(1, 7), 6, limit=10).all()
    np.True_
    >>> int(soft_sample(np.arange(100_000), np.arange(1, 100_001), 100_000, 20_000).sum())
    19997
    """
    if undecided <= limit:
        return np.ones(len(a), bool)
    ka, kb, k2, c = _HASH
    h = ((np.asarray(a, np.int64) % _P) * ka + (np.asarray(b, np.int64) % _P) * kb) % _P
    h = (h * k2 + c) % _P
    return h < int(_P * limit / undecided)


def soft_labels(fs_weight: np.ndarray, decided: int, weight: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Fellegi-Sunter's opinion of undecided pairs as weighted training rows: each pair
    twice, same actor with weight ``c * p`` and different actors with ``c * (1 - p)``,
    ``p`` its Fellegi-Sunter probability (``fs_weight``: log2 odds) and ``c`` such that all
    of them weigh ``weight`` times the ``decided`` pairs. Returns ``(y, sample_weight)``
    of the ``2 * len(fs_weight)`` rows.

    >>> y, w = soft_labels(np.array([0.0, 2.0]), 4, 0.5)
    >>> y.tolist(), w.round(2).tolist()
    ([True, True, False, False], [0.5, 0.8, 0.5, 0.2])
    """
    p = 1.0 / (1.0 + np.exp2(-np.asarray(fs_weight, float)))
    c = weight * decided / max(len(p), 1)
    return np.r_[np.ones(len(p), bool), np.zeros(len(p), bool)], np.r_[c * p, c * (1 - p)]


def training_rows(train: np.ndarray, same: np.ndarray, soft: np.ndarray,
                  fs_weight: np.ndarray, weight: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The classifier's training rows: the decided pairs ``train`` (``same``: decided
    same actor), then, with ``weight`` > 0, the undecided pairs ``soft`` twice with
    :func:`soft_labels` of their ``fs_weight`` (indexed like ``train`` and ``soft``).
    Returns ``(rows, y, sample_weight)``; ``sample_weight`` is None without soft rows.

    >>> rows, y, w = training_rows(np.array([0]), np.array([True]), np.array([2]),
    ...                            np.array([5.0, 9.0, 0.0]), 1.0)
    >>> rows.tolist(), y.tolist(), w.tolist()
    ([0, 2, 2], [True, True, False], [1.0, 0.5, 0.5])
    """
    if not weight > 0:
        return train, same, None
    ys, ws = soft_labels(np.asarray(fs_weight)[soft], len(train), weight)
    return np.r_[train, soft, soft], np.r_[same, ys], np.r_[np.ones(len(train)), ws]


def pair_context(graph: AccountGraph, compared: Comparisons,
                 groups: np.ndarray | None = None) -> pd.DataFrame:
    """Cheap pair-context features of every candidate pair, vectorised.

    Columns: ``shared_by_<comparison>`` (log2 of how many accounts use the
    rarest value the pair agrees on exactly, 0 without exact agreement),
    ``n_shared`` (raw values the pair shares), ``degree_min``/``degree_max``
    (log2 of 1 + each account's number of candidates), ``edges`` (log2 of 1 +
    the edges between the two), ``start_gap_days`` (log2 of 1 + days
    between their first activities; -1 when unknown), ``banned`` (0, 1 or 2 of
    them), ``same_person`` (1 when a chain of email/phone agreements joins
    them) and ``mixing`` (the smallest :func:`.mixing.value_mixing` of the
    other values they share: 0 when some shared value is used by one personal
    group only; 0 without such a value). ``groups``: the personal group per node when
    already known (:func:`.mixing.sharing_comparison` gives it).

    Cost: O(P log P) for P candidate pairs.
    """
    a, b, n = compared.a, compared.b, graph.n_accounts
    shared_by = {name: compared.shared_by[:, j] for j, name in enumerate(compared.names)
                 if name not in ("timing", SHARING)}
    key = a * n + b
    pairs = graph.pairs
    n_shared = _lookup(key, pairs["a"].to_numpy() * n + pairs["b"].to_numpy(),
                       pairs["n_shared"].to_numpy())
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    e = graph.links_by_edge
    ea, eb = e["a"].to_numpy(), e["b"].to_numpy()
    n_edges = _lookup(key, ea * n + eb, e["n_edges"].to_numpy())
    st = graph.status
    start = pd.DatetimeIndex(st["first_activity"]).asi8
    banned = st["banned"].to_numpy()
    group = personal_groups(n, compared) if groups is None else groups
    return context_features(shared_by, n_shared, degree[a], degree[b], n_edges,
                            start[a], start[b], banned[a], banned[b], group[a] == group[b],
                            _lookup(key, *value_mixing(graph, group)))


def context_features(shared_by: dict[str, np.ndarray], n_shared: np.ndarray,
                     degree_a: np.ndarray, degree_b: np.ndarray, n_edges: np.ndarray,
                     start_a: np.ndarray, start_b: np.ndarray, banned_a: np.ndarray,
                     banned_b: np.ndarray, same_person: np.ndarray,
                     mixing: np.ndarray) -> pd.DataFrame:
    """:func:`pair_context`'s columns from the raw counts per pair (the Spark linker
    gathers them by joins and calls this in its tasks): ``shared_by`` per comparison,
    the shared raw values, each account's candidates, the edges between them, their
    first activities (ns since the epoch, NaT's integer when unknown), bans, whether
    they are one personal group and the smallest mixing of the values they share.

    >>> context_features({"card": np.array([4])}, np.array([1.0]), np.array([1]),
    ...                  np.array([3]), np.array([0.0]), np.array([0]),
    ...                  np.array([86_400 * 10**9]), np.array([True]),
    ...                  np.array([False]), np.array([True]),
    ...                  np.array([0.5])).iloc[0].tolist()
    [2.0, 1.0, 1.0, 2.0, 0.0, 1.0, 1.0, 1.0, 0.5]
    """
    out: dict[str, np.ndarray] = {}
    for name, by in shared_by.items():
        out[f"shared_by_{name}"] = np.log2(np.maximum(by, 1))
    out["n_shared"] = np.asarray(n_shared, float)
    out["degree_min"] = np.log2(1 + np.minimum(degree_a, degree_b))
    out["degree_max"] = np.log2(1 + np.maximum(degree_a, degree_b))
    out["edges"] = np.log2(1 + np.asarray(n_edges, float))
    nat = np.iinfo(np.int64).min
    known = (start_a != nat) & (start_b != nat)
    gap = np.abs(start_a.astype(float) - start_b.astype(float)) / _NS_DAY
    out["start_gap_days"] = np.where(known, np.log2(1 + gap), -1.0)
    out["banned"] = np.asarray(banned_a).astype(float) + banned_b
    out["same_person"] = np.asarray(same_person).astype(float)
    out["mixing"] = np.asarray(mixing, float)
    return pd.DataFrame(out)


def adjust_prior(p: np.ndarray, train_share: float, share: float) -> np.ndarray:
    """Probabilities of a classifier trained at match share ``train_share``, moved to
    ``share``: the odds times ``odds(share) / odds(train_share)``.

    >>> adjust_prior(np.array([0.5, 0.9]), 0.5, 0.1).round(3).tolist()
    [0.1, 0.5]
    """
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    odds = p / (1 - p) * (share / (1 - share)) / (train_share / (1 - train_share))
    return odds / (1 + odds)


class PairClassifier:
    """A classifier of candidate pairs, same actor or not, fitted on reviewers' decisions.

    Parameters
    ----------
    settings
        Merged over :data:`SUPERVISED_DEFAULTS`: ``model`` (``"logistic"``:
        L2-regularised logistic regression on one-hot levels and standardised
        context; ``"gradient_boosting"``: scikit-learn's
        HistGradientBoostingClassifier with the levels as categories), ``C``,
        ``max_iter``, ``match_share``.

    Attributes
    ----------
    model_ : sklearn estimator
        The fitted classifier (on the balanced-ish decided pairs).
    train_share_ : float
        Share of same-actor pairs among the training pairs.
    match_share_ : float
        Share of matches among all candidates (given, or estimated by EM in
        :meth:`fit_share`).

    Examples
    --------
    Level 2 of the first comparison is strong evidence, the context is noise.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.5
    >>> levels = np.c_[np.where(rng.random(400) < np.where(y, 0.8, 0.1), 2, 1)]
    >>> X = pd.DataFrame({"c0": levels[:, 0], "noise": rng.normal(size=400)})
    >>> clf = PairClassifier().fit(X, y, categorical=["c0"], n_levels=[3])
    >>> p = clf.predict_proba(pd.DataFrame({"c0": [1, 2], "noise": [0.0, 0.0]}))
    >>> bool(p[1] > 0.8 > 0.2 > p[0])
    True
    """

    def __init__(self, settings: dict | None = None):
        self.settings = settings

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings, completed with the defaults (as scikit-learn's ``get_params``)."""
        return {"settings": check_settings(self.settings)}

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, categorical: list[str],
            n_levels: list[int], sample_weight: np.ndarray | None = None
            ) -> "PairClassifier":
        """Fit on decided pairs: ``X`` (levels in the ``categorical`` columns, each with
        ``n_levels`` levels 0..k-1; the rest numeric), ``y`` (True: same actor), and
        optionally ``sample_weight`` per row (with the rows of :func:`soft_labels`).

        Cost: the estimator's (a few thousand pairs: well under a second).
        """
        s = check_settings(self.settings)
        y = np.asarray(y, bool)
        numeric = [c for c in X.columns if c not in categorical]
        if s["model"] == "logistic":
            encode = ColumnTransformer(
                [("levels", OneHotEncoder(categories=[list(range(k)) for k in n_levels],
                                          handle_unknown="ignore"), categorical),
                 ("context", StandardScaler(), numeric)])
            model = make_pipeline(encode, LogisticRegression(C=float(s["C"]), max_iter=2000))
        else:
            model = HistGradientBoostingClassifier(
                max_iter=int(s["max_iter"]), learning_rate=0.1, max_leaf_nodes=15,
                min_samples_leaf=10, l2_regularization=1.0, early_stopping=False,
                categorical_features=[X.columns.get_loc(c) for c in categorical],
                random_state=0)
        if sample_weight is None:
            self.model_ = model.fit(X, y)
        elif s["model"] == "logistic":
            self.model_ = model.fit(X, y, logisticregression__sample_weight=sample_weight)
        else:
            self.model_ = model.fit(X, y, sample_weight=sample_weight)
        self.columns_ = list(X.columns)
        self.categorical_, self.numeric_ = list(categorical), numeric
        if s["model"] == "logistic":  # scored by table lookups: no one-hot block at scale
            encode, logistic = model[0], model[-1]
            coef = logistic.coef_.ravel()
            edges = np.cumsum([0] + list(n_levels))
            self.level_coef_ = [coef[lo:hi] for lo, hi in zip(edges[:-1], edges[1:])]
            scaler = encode.named_transformers_["context"]
            self.numeric_coef_ = coef[edges[-1]:] / scaler.scale_
            self.intercept_ = float(logistic.intercept_[0]) \
                - float(self.numeric_coef_ @ scaler.mean_)
        self.train_share_ = float(np.clip(np.average(y, weights=sample_weight), 1e-6, 1 - 1e-6))
        self.match_share_ = self.train_share_ if s["match_share"] is None \
            else float(s["match_share"])
        return self

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities at the training share (gradient boosting: in chunks, bounded
        memory)."""
        if hasattr(self, "level_coef_"):
            z = np.full(len(X), self.intercept_)
            for c, coef in zip(self.categorical_, self.level_coef_):
                z += coef[X[c].to_numpy().astype(np.int64)]
            z += X[self.numeric_].to_numpy(float) @ self.numeric_coef_
            return 1.0 / (1.0 + np.exp(-z))
        out = np.empty(len(X))
        for lo in range(0, len(X), _CHUNK):
            out[lo:lo + _CHUNK] = self.model_.predict_proba(
                X.iloc[lo:lo + _CHUNK][self.columns_])[:, 1]
        return out

    def fit_share(self, X: pd.DataFrame, start: float, max_iter: int = 100,
                  tol: float = 1e-6) -> "PairClassifier":
        """Estimate the share of matches among the candidates ``X`` by EM (unless
        ``match_share`` is set): the share is the mean of the probabilities
        adjusted to it, iterated from ``start``. Cost: O(max_iter * len(X))."""
        s = check_settings(self.settings)
        self.raw_ = self._raw(X)
        if s["match_share"] is None:
            share = float(np.clip(start, 1e-6, 1 - 1e-6))
            for _ in range(max_iter):
                new = float(np.clip(adjust_prior(self.raw_, self.train_share_, share).mean(),
                                    1e-6, 1 - 1e-6))
                done = abs(new - share) < tol
                share = new
                if done:
                    break
            self.match_share_ = share
        return self

    def predict_proba(self, X: pd.DataFrame | None = None) -> np.ndarray:
        """Probability of the same actor, at the candidates' match share (``X`` None: the
        pairs given to :meth:`fit_share`)."""
        raw = self.raw_ if X is None else self._raw(X)
        return adjust_prior(raw, self.train_share_, self.match_share_)

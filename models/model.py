"""The repeat-offender model: gradient boosting on graph features, calibrated
on out-of-fold predictions, with per-account explanations."""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import _SigmoidCalibration
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import PredefinedSplit, StratifiedKFold
from scipy.special import expit
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.validation import check_is_fitted

from ringfence.graph.atomic import atomic_file, write_json
from ringfence.graph.cpus import thread_budget
from ringfence.models.signing import UntrustedModelError, sign_file, verify_file

__all__ = ["RepeatOffenderModel", "FeatureMismatchError", "ModelFileError", "UntrustedModelError",
           "save_model", "load_model", "check_features"]

CARD_SUFFIX = ".card.json"
PREDICT_BLOCK = 100_000  # rows predicted at a time by trees too large for tables
# version 2: the booster is fitted on a float matrix with categories as codes
# version 3: an ensemble of boosters (boosters_), one per fold
FORMAT = 3


class FeatureMismatchError(ValueError):
    """The features given differ from those the model was fitted on."""


class ModelFileError(ValueError):
    """A signed file that is not a model this version reads (another format, not a model)."""


class RepeatOffenderModel(ClassifierMixin, BaseEstimator):
    """Calibrated gradient boosting for "will this account turn out banned?".

    One ``HistGradientBoostingClassifier`` with small, regularised trees is
    fitted per fold on the other folds (``ensemble="folds"``, the default):
    each predicts its held-out fold (the out-of-fold predictions) and the
    model's score for any other row is the members' mean log-odds. Averaging
    the members is what makes the ranking steady: two models fitted with
    different seeds share far more of their top accounts than two single
    boosters do, and no extra booster is fitted for it
    (``ensemble="refit"``: one booster refitted on all rows, as before).
    Probabilities are calibrated by a monotone map (Platt's sigmoid by
    default, which keeps the ranking intact, or isotonic regression) fitted
    on the out-of-fold predictions, so the calibration never sees a row's own
    fitted score.

    Class imbalance (bans are rare) is handled by the calibration, which maps
    scores to the observed rate, and by a minimum leaf size that keeps a
    handful of positives from being memorised. Balanced class weights are
    available but not the default: on the reddit-banned validation split
    they lowered average precision (0.096 -> 0.081) and made fitting 50
    times slower (scikit-learn bins weighted data with weighted quantiles).

    Parameters
    ----------
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization, max_features
        Passed to ``HistGradientBoostingClassifier``. ``min_samples_leaf="auto"``
        is ``n_rows // 100`` clipped to [5, 40].
    class_weight
        ``None`` (default) or ``"balanced"``.
    calibration
        ``"sigmoid"`` (default) or ``"isotonic"``.
    cv
        Folds for the out-of-fold predictions when ``fit`` gets no ``folds``.
    ensemble
        ``"folds"`` (default): the fold boosters, averaged; ``"refit"``: one
        booster refitted on all rows.
    random_state
        Seed of the folds and the boosters (each member gets its own seed
        derived from it).

    Attributes
    ----------
    boosters_ : list of HistGradientBoostingClassifier
        The members whose log-odds are averaged.
    feature_names_in_ : numpy.ndarray
        Columns seen in ``fit``; ``predict_proba`` requires exactly these.
    oof_proba_ : numpy.ndarray
        Calibrated out-of-fold probabilities of the training rows.
    cv_metrics_ : dict
        ROC-AUC, average precision and Brier score of the out-of-fold
        predictions.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=400), "noise": rng.normal(size=400)})
    >>> y = (X["x"] + 0.5 * rng.normal(size=400) > 1).astype(int)
    >>> model = RepeatOffenderModel(max_iter=50).fit(X, y)
    >>> model.cv_metrics_["roc_auc"] > 0.9
    True
    >>> model.predict_proba(X.head(2)).shape
    (2, 2)
    """

    def __init__(self, learning_rate: float = 0.03, max_iter: int = 300,
                 max_leaf_nodes: int = 7, min_samples_leaf: int | str = "auto",
                 l2_regularization: float = 1.0, max_features: float = 0.5,
                 class_weight: str | None = None, calibration: str = "sigmoid",
                 cv: int = 5, ensemble: str = "folds", random_state: int = 0):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.ensemble = ensemble
        self.random_state = random_state

    def _booster(self, member: int = 0) -> HistGradientBoostingClassifier:
        leaf = self.min_samples_leaf
        if leaf == "auto":
            leaf = int(np.clip(self.n_train_ // 100, 5, 40))
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=leaf,
            l2_regularization=self.l2_regularization, max_features=self.max_features,
            class_weight=self.class_weight,
            categorical_features=[c in self.categories_ for c in self.feature_names_in_],
            early_stopping=False, random_state=_member_seed(self.random_state, member))

    def _decision(self, M: np.ndarray) -> np.ndarray:
        """The ensemble's log-odds for the rows of ``M`` (from :meth:`_matrix`): the members' mean."""
        tables = _EnsembleTables.of(self.boosters_, len(self.feature_names_in_))
        if tables is None:  # trees too large for tables, or another scikit-learn
            return np.mean([_booster_decision(b, M) for b in self.boosters_], axis=0)
        return tables.decision(lambda j, rows: M[rows, j], len(M))

    def _column(self, X: pd.DataFrame, j: int) -> np.ndarray:
        """Column ``j`` of :meth:`_matrix` for the rows of ``X``."""
        c = self.feature_names_in_[j]
        col = X[c]
        if c in self.categories_:
            # positions in the fitted categories; unseen or missing -> NaN (missing)
            idx = pd.Index(self.categories_[c]).get_indexer(col.astype(object))
            return np.where(idx >= 0, idx, np.nan)
        return col.to_numpy(dtype=np.float64, na_value=np.nan)

    def _source(self, X: pd.DataFrame, j: int) -> Callable[[slice], np.ndarray]:
        """Column ``j`` of :meth:`_matrix` for a slice of rows, without converting the rest."""
        c = self.feature_names_in_[j]
        col = X[c]
        if c in self.categories_ and isinstance(col.dtype, pd.CategoricalDtype):
            # the same positions as _column: each category looked up once, then its code
            pos = pd.Index(self.categories_[c]).get_indexer(col.cat.categories.astype(object))
            lookup = np.append(np.where(pos >= 0, pos, np.nan), np.nan)  # code -1: missing
            codes = col.cat.codes.to_numpy()
            return lambda rows: lookup[codes[rows]]
        if (c not in self.categories_ and isinstance(col.dtype, np.dtype)
                and col.dtype.kind in "biuf"):
            values = col.to_numpy()
            return lambda rows: values[rows].astype(np.float64)
        return lambda rows: self._column(X.iloc[rows], j)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's input: float64 in column-major order, categories as their codes."""
        out = np.empty(X.shape, dtype=np.float64, order="F")
        for j in range(len(self.feature_names_in_)):
            out[:, j] = self._column(X, j)
        return out

    def _check_params(self) -> None:
        if self.ensemble not in ("folds", "refit"):
            raise ValueError(f"ensemble must be 'folds' or 'refit', got {self.ensemble!r}")
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', got {self.calibration!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ValueError(f"cv must be an integer >= 2, got {self.cv!r}")

    def fit(self, X: pd.DataFrame, y: Any, folds: np.ndarray | None = None
            ) -> "RepeatOffenderModel":
        """Fit on a feature table and 0/1 labels.

        ``folds`` (an integer fold per row) fixes the out-of-fold split, so that
        it matches the folds in which label features were hidden.
        """
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame of features (column names are the contract)")
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("y must be 0/1 (1 = banned, 0 = cleared)")
        y = y.astype(int)
        counts = np.bincount(y, minlength=2)
        if counts.min() < self.cv:
            raise ValueError(f"need at least {self.cv} examples of each class, got "
                             f"{counts[1]} positive and {counts[0]} negative")
        self.n_train_ = len(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.categories_ = {c: list(X[c].cat.categories) for c in X.columns
                            if isinstance(X[c].dtype, pd.CategoricalDtype)}
        too_many = {c: len(v) for c, v in self.categories_.items() if len(v) > 255}
        if too_many:
            raise ValueError(f"categorical features with more than 255 categories: {too_many}; "
                             "group the rare ones or drop the column")
        M = self._matrix(X)
        if folds is not None:
            splitter = PredefinedSplit(np.asarray(folds))
        else:
            splitter = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        raw_oof = np.empty(len(y))
        splits = list(splitter.split(M, y))
        self.boosters_ = _fit_boosters([(self._booster(k), fit_rows)
                                        for k, (fit_rows, _) in enumerate(splits)], M, y)
        for member, (_, held) in zip(self.boosters_, splits):
            raw_oof[held] = expit(_booster_decision(member, M[held]))
        if self.calibration == "sigmoid":
            cal = _SigmoidCalibration().fit(raw_oof, y)
        else:
            cal = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw_oof, y)
        self.calibrator_ = cal
        if self.ensemble == "refit":
            self.boosters_ = _fit_boosters([(self._booster(), slice(None))], M, y)
        self.oof_proba_ = self._calibrate(raw_oof)
        self.cv_metrics_ = {
            "roc_auc": float(roc_auc_score(y, self.oof_proba_)),
            "average_precision": float(average_precision_score(y, self.oof_proba_)),
            "brier": float(brier_score_loss(y, self.oof_proba_)),
            "positives": int(counts[1]), "negatives": int(counts[0]),
        }
        # background for explanations: what a typical training account looks like
        self.background_ = {c: (X[c].mode().iloc[0] if c in self.categories_
                                else float(np.nanmedian(X[c].to_numpy(float)))
                                if X[c].notna().any() else np.nan) for c in X.columns}
        return self

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(self.calibrator_.predict(raw), 0.0, 1.0)

    def _check_X(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "boosters_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame of features")
        expected = list(self.feature_names_in_)
        got = list(X.columns)
        if got != expected:
            missing = [c for c in expected if c not in got]
            extra = [c for c in got if c not in expected]
            if missing or extra:
                raise FeatureMismatchError(
                    "the features differ from those the model was fitted on: "
                    f"missing {missing[:10]}{' ...' if len(missing) > 10 else ''}, "
                    f"unexpected {extra[:10]}{' ...' if len(extra) > 10 else ''}. "
                    "Retrain the model on data of this shape (ringfence train).")
            X = X[expected]
        return X

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2); column 1 is "banned"."""
        X = self._check_X(X)
        tables = _EnsembleTables.of(self.boosters_, len(self.feature_names_in_))
        if tables is not None:
            # only the columns the trees read, converted a block of rows at a time
            sources = {j: self._source(X, j) for j in tables.columns}
            raw = tables.decision(lambda j, rows: sources[j](rows), len(X))
        else:
            raw = np.empty(len(X))
            # in blocks of rows: the float matrices of a million rows would cost 0.7 GB each
            for start in range(0, len(X), PREDICT_BLOCK):
                block = X.iloc[start:start + PREDICT_BLOCK]
                raw[start:start + len(block)] = self._decision(self._matrix(block))
        p = self._calibrate(expit(raw))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[tuple[str, Any, float]]]:
        """Per-row feature contributions by occlusion.

        For each row and feature, the feature is set to the training
        background (median, or most frequent category) and the drop in the
        booster's log-odds is that feature's contribution to this account's
        score (log-odds rather than probability, so that contributions stay
        visible when the calibrated probability saturates). Returns, per
        row, up to ``top`` features with a positive contribution:
        ``(feature, value, contribution)``, largest first.
        Cost: ``len(X) * n_features`` predictions.
        """
        X = self._check_X(X).reset_index(drop=True)
        n, f = X.shape
        if n == 0:
            return []
        M = self._matrix(X)
        base = self._decision(M)
        # block j of the stacked matrix: every row with feature j set to its background
        big = np.asfortranarray(np.tile(M, (f, 1)))
        for j, c in enumerate(X.columns):
            b = self.background_[c]
            if c in self.categories_:
                b = self.categories_[c].index(b) if b in self.categories_[c] else np.nan
            big[j * n:(j + 1) * n, j] = b
        occluded = self._decision(big).reshape(f, n).T
        contrib = base[:, None] - occluded
        out = []
        for i in range(n):
            order = np.argsort(-contrib[i], kind="stable")[:top]
            out.append([(str(X.columns[j]), X.iat[i, j], float(contrib[i, j]))
                        for j in order if contrib[i, j] > 1e-3])
        return out


def _member_seed(seed: int, member: int) -> int:
    """The booster seed of ensemble member ``member`` of a model seeded ``seed``."""
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0] >> 1)


def _fit_one(booster: HistGradientBoostingClassifier, X: np.ndarray, y: np.ndarray
             ) -> HistGradientBoostingClassifier:
    """``booster.fit(X, y)`` with one OpenMP thread in the calling thread."""
    from threadpoolctl import threadpool_limits

    # the OpenMP thread count is per calling thread: set and restored in this one
    with threadpool_limits(limits=1, user_api="openmp"):
        return booster.fit(X, y)


def _fit_boosters(jobs: list, M: np.ndarray, y: np.ndarray) -> list:
    """Fit each ``(booster, rows)`` of ``jobs`` on ``M[rows], y[rows]``, the boosters side
    by side on :func:`~ringfence.graph.cpus.thread_budget` threads, each with one OpenMP
    thread; returns the fitted boosters in the order of ``jobs``.

    Why not one booster at a time on every thread: the trees are small (7 leaves) and
    the training rows few (the labelled accounts, about 70,000 of 1,000,000), so
    scikit-learn's OpenMP loops meet at a barrier every few hundred microseconds. A
    thread waiting there spins (``GOMP_SPINCOUNT``), and on a busy machine the thread
    it waits for is often not running. Five boosters of 56,000 rows x 83 features
    (200 trees each) on two busy cores (load 13): one OpenMP thread 13.7 s CPU, 33.9 s
    wall; two 50.2 s CPU, 132.8 s wall. Side by side, the boosters share no barrier;
    the Cython loops release the GIL. Each booster is the same whichever thread fits it
    (its own seed, one thread), so the model is too.
    """
    workers = min(thread_budget(), len(jobs))
    if workers <= 1:
        return [_fit_one(b, M[rows], y[rows]) for b, rows in jobs]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: _fit_one(job[0], M[job[1]], y[job[1]]), jobs))


def _booster_decision(booster: HistGradientBoostingClassifier, M: np.ndarray) -> np.ndarray:
    tables = _EnsembleTables.of([booster], M.shape[1])
    if tables is not None:  # the mean of one member is its own log-odds, exactly
        return tables.decision(lambda j, rows: M[rows, j], len(M))
    try:
        return column_major_decision(booster, M)
    except (AttributeError, KeyError, TypeError, ValueError):  # another scikit-learn
        return booster.decision_function(M)


# A tree of at most this many splits is predicted as a table (2**8 leaf values, a byte of
# code per row); the default trees have 6 (max_leaf_nodes=7). Larger trees go through
# scikit-learn's own loop
TABLE_BITS = 8
# rows at a time: the columns the trees read and the per-row codes stay in the CPU's cache
TABLE_ROWS = 65_536


@dataclass(frozen=True)
class _TreeTable:
    """One tree as its splits' tests and a table from their outcomes to the leaf value.

    Split ``i`` reads column ``columns[i]`` of :meth:`RepeatOffenderModel._matrix` and
    sets bit ``i`` of a row's code: for a numeric split to ``x <= threshold`` when
    ``left_bit[i]`` (missing values go right, and NaN compares false) and to
    ``x > threshold`` otherwise (they go left); for a categorical split to
    ``luts[i][category]`` (index 256: missing, unseen or not a category). ``values[code]``
    is the leaf the tree's own walk reaches for those outcomes.
    """

    columns: np.ndarray
    thresholds: np.ndarray
    left_bit: np.ndarray
    luts: dict[int, np.ndarray]
    values: np.ndarray


def _bits(bitset: np.ndarray) -> np.ndarray:
    """The 256 membership bits of a scikit-learn category bitset (eight uint32 words)."""
    v = np.arange(256)
    return (bitset[v >> 5] >> (v & 31).astype(np.uint32)) & 1 == 1


def _tree_table(predictor: Any, zmap: np.ndarray, seen: dict[int, np.ndarray],
                known: np.ndarray, fmap: np.ndarray) -> _TreeTable:
    """A fitted tree (``TreePredictor``) as a :class:`_TreeTable`; ValueError when it has
    more than :data:`TABLE_BITS` splits. ``zmap``: the matrix column of each feature the
    booster sees after its preprocessing; ``seen``: per encoded feature, the values its
    ordinal encoder knows (a value's position among them is what the tree compares)."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    split = np.flatnonzero(~leaf)
    m = len(split)
    if m > TABLE_BITS:
        raise ValueError(f"a tree with {m} splits")
    bit_of = np.zeros(len(nodes), np.intp)
    bit_of[split] = np.arange(m)
    feature = nodes["feature_idx"][split].astype(np.intp)
    go_left_missing = nodes["missing_go_to_left"][split].astype(bool)
    left_bit = ~go_left_missing
    luts = {}
    for i in np.flatnonzero(nodes["is_categorical"][split].astype(bool)):
        f = int(feature[i])
        # scikit-learn's walk on a category position: left if in the split's bitset, right
        # if a category known in fit, else (unknown) the side of missing values
        by_position = np.where(_bits(predictor.raw_left_cat_bitsets[nodes["bitset_idx"][split[i]]]),
                               True, np.where(_bits(known[fmap[f]]), False, go_left_missing[i]))
        lut = np.full(257, go_left_missing[i])
        if f in seen:  # matrix value -> its position among the encoder's categories
            values = seen[f][~np.isnan(seen[f])]
            if not ((values >= 0) & (values < 256) & (values == np.floor(values))).all():
                raise ValueError("categories that are not positions")
            lut[values.astype(np.intp)] = by_position[:len(values)]
        else:
            lut[:256] = by_position
        luts[int(i)] = lut
        left_bit[i] = True
    codes = np.arange(1 << m)
    node = np.zeros(1 << m, np.intp)
    for _ in range(m):  # a walk takes at most m splits
        inner = ~leaf[node]
        if not inner.any():
            break
        b = (codes >> bit_of[node]) & 1 == 1
        step = np.where(b == left_bit[bit_of[node]], nodes["left"][node], nodes["right"][node])
        node = np.where(inner, step, node)
    if not leaf[node].all():
        raise ValueError("a walk that does not end in a leaf")
    return _TreeTable(zmap[feature], nodes["num_threshold"][split].astype(np.float64),
                      left_bit, luts, nodes["value"][node].astype(np.float64))


@dataclass(frozen=True)
class _MemberTables:
    """One booster as tree tables: its baseline and its trees, in order."""

    baseline: float
    trees: list[_TreeTable]

    def raw(self, column: Callable[[int], np.ndarray], k: int) -> np.ndarray:
        """The booster's log-odds for ``k`` rows whose matrix columns ``column`` gives.

        The same float operations as scikit-learn's loop: the baseline added to zeros,
        then each tree's leaf value in tree order."""
        raw = np.zeros(k)
        raw += self.baseline
        code = np.empty(k, np.uint8)
        tmp = np.empty(k, np.uint8)
        for tree in self.trees:
            if not len(tree.columns):
                code[:] = 0
            for i, j in enumerate(tree.columns):
                out = (code if i == 0 else tmp).view(bool)
                if i in tree.luts:
                    np.take(tree.luts[i], column(-1 - j), out=out)
                elif tree.left_bit[i]:
                    np.less_equal(column(j), tree.thresholds[i], out=out)
                else:
                    np.greater(column(j), tree.thresholds[i], out=out)
                if i:
                    np.left_shift(tmp, i, out=tmp)
                    np.bitwise_or(code, tmp, out=code)
            raw += tree.values.take(code.astype(np.intp))
        return raw


# tables of the boosters seen, while they live: built once per booster, not per prediction
_TABLES: "weakref.WeakKeyDictionary[Any, tuple[Any, _MemberTables | None]]" = \
    weakref.WeakKeyDictionary()


def _member_tables(booster: HistGradientBoostingClassifier, n_columns: int) -> _MemberTables | None:
    """``booster`` as :class:`_MemberTables`, or None when it cannot be (trees too large,
    another scikit-learn's private layout)."""
    cached = _TABLES.get(booster)
    if cached is not None and cached[0] is booster._predictors:
        return cached[1]
    try:
        if booster.n_trees_per_iteration_ != 1:
            raise ValueError("more than one tree per iteration")
        pre = booster._preprocessor
        seen: dict[int, np.ndarray] = {}
        if pre is None:
            zmap = np.arange(n_columns)
        else:
            cat = np.asarray(booster.is_categorical_, bool)
            out = pre.output_indices_
            rest = out.get("remainder", slice(0, 0))
            if rest.stop != rest.start:
                raise ValueError("columns passed through")
            zmap = np.empty(n_columns, np.intp)
            zmap[out["encoder"]] = np.flatnonzero(cat)
            zmap[out["numerical"]] = np.flatnonzero(~cat)
            encoder = pre.named_transformers_["encoder"]
            for k in range(out["encoder"].start, out["encoder"].stop):
                seen[k] = np.asarray(encoder.categories_[k - out["encoder"].start], np.float64)
        known, fmap = booster._bin_mapper.make_known_categories_bitsets()
        baseline = np.asarray(booster._baseline_prediction, np.float64).ravel()
        if len(baseline) != 1:
            raise ValueError("not one baseline")
        tables = _MemberTables(float(baseline[0]),
                               [_tree_table(p, zmap, seen, known, fmap)
                                for (p,) in booster._predictors])
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        tables = None
    _TABLES[booster] = (booster._predictors, tables)
    return tables


@dataclass(frozen=True)
class _EnsembleTables:
    """The members of an ensemble as tree tables: the mean of their log-odds.

    scikit-learn walks each row down each tree, one tree at a time over all rows
    (33 ns per row and tree on this machine). A tree of at most eight splits is
    instead one vectorised comparison per split, a byte of outcomes per row and a
    lookup of the leaf value: about a sixth of the time, with the same float
    operations in the same order, so the same log-odds to the last bit
    (``tests/models/test_model.py`` checks it against ``decision_function``, with
    unseen and missing categories).
    """

    members: list[_MemberTables]
    columns: list[int]

    @classmethod
    def of(cls, boosters: list, n_columns: int) -> "_EnsembleTables | None":
        members = [_member_tables(b, n_columns) for b in boosters]
        if any(m is None for m in members):
            return None
        used = sorted({int(j) for m in members for t in m.trees for j in t.columns})
        return cls(members, used)

    def decision(self, column: Callable[[int, slice], np.ndarray], n: int) -> np.ndarray:
        """The members' mean log-odds for ``n`` rows; ``column(j, rows)`` gives column ``j``
        of the matrix (float64) for a slice of rows.

        Cost: per block of :data:`TABLE_ROWS` rows, each column read converted once and
        about three vector operations per split of every tree; the blocks run on
        :func:`~ringfence.graph.cpus.thread_budget` threads.
        """
        out = np.empty(n)

        def block(start: int) -> None:
            rows = slice(start, min(n, start + TABLE_ROWS))
            k = rows.stop - rows.start
            cache: dict[int, np.ndarray] = {}

            def values(j: int) -> np.ndarray:
                if j not in cache:
                    if j >= 0:
                        cache[j] = np.ascontiguousarray(column(j, rows), dtype=np.float64)
                    else:  # -1 - j: the category positions of column j, 256 for the rest
                        x = values(-1 - j)
                        ok = (x >= 0) & (x < 256) & (x == np.floor(x))
                        cache[j] = np.where(ok, x, 256).astype(np.intp)
                return cache[j]

            out[rows] = np.mean([m.raw(values, k) for m in self.members], axis=0)

        starts = range(0, n, TABLE_ROWS)
        # blocks on threads: numpy's loops release the GIL, and every row's numbers are the
        # same whichever thread computes its block
        workers = min(thread_budget(), len(starts))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(block, starts))
        else:
            for start in starts:
                block(start)
        return out


def _booster_input(booster: HistGradientBoostingClassifier, M: np.ndarray) -> np.ndarray:
    """What the booster's own preprocessing makes of ``M``, built column-major directly."""
    pre = booster._preprocessor
    if pre is None:
        return np.asfortranarray(M, dtype=np.float64)
    cat = np.asarray(booster.is_categorical_, bool)
    encoder = pre.named_transformers_["encoder"]
    out = pre.output_indices_
    Z = np.empty(M.shape, dtype=np.float64, order="F")
    for k, j in zip(range(out["encoder"].start, out["encoder"].stop), np.flatnonzero(cat)):
        # the ordinal encoder: position among the categories seen in fit (sorted, NaN
        # last); unseen values and NaN become NaN
        seen = encoder.categories_[k - out["encoder"].start]
        pos = np.minimum(np.searchsorted(seen, M[:, j]), len(seen) - 1)
        Z[:, k] = np.where(seen[pos] == M[:, j], pos, np.nan)
    Z[:, out["numerical"]] = M[:, ~cat]
    return Z


def column_major_decision(booster: HistGradientBoostingClassifier, M: np.ndarray) -> np.ndarray:
    """``booster.decision_function(M)``, about three times faster on large inputs.

    The path of boosters whose trees are too large for :class:`_EnsembleTables`
    (more than :data:`TABLE_BITS` splits), which is five times faster again.

    scikit-learn hands the trees a row-major copy of the input when some
    features are categorical; each tree then sweeps every row's whole feature
    block (1,000,000 rows x 83 features: 16 s, plus 2 s and three copies of
    the matrix for the preprocessing). Column-major input lets a tree read only
    its few columns (4.6 s). That needs the booster's private preprocessing
    state and prediction loop: :meth:`RepeatOffenderModel._decision` falls back
    to the public method when they change, and ``tests/test_model.py`` checks
    that both agree exactly, with unseen and missing categories.
    """
    Z = _booster_input(booster, M)
    raw = np.zeros((len(Z), 1), dtype=booster._baseline_prediction.dtype, order="F")
    raw += booster._baseline_prediction
    booster._predict_iterations(Z, booster._predictors, raw, False,
                                _openmp_effective_n_threads())
    return raw[:, 0]


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("ringfence", "scikit-learn", "numpy", "pandas", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def save_model(model: RepeatOffenderModel, path: str | os.PathLike,
               training: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Save a fitted model, its signature and its model card (``<path>.card.json``).

    The model file is written atomically with the permissions the umask
    allows, then signed (``<path>.sig``, see :mod:`ringfence.models.signing`):
    :func:`load_model` reads only files signed with this machine's key. The
    card holds the training data summary, the feature list, the
    cross-validation metrics, the parameters, package versions and the
    creation time.
    """
    check_is_fitted(model, "boosters_")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    card = {
        "model": "RepeatOffenderModel",
        "format": FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": model.get_params(),
        "features": [str(c) for c in model.feature_names_in_],
        "categorical_features": {k: [str(v) for v in vals]
                                 for k, vals in model.categories_.items()},
        "cv_metrics": model.cv_metrics_,
        "training_data": training or {},
        "versions": _versions(),
    }
    card_path = path.with_name(path.name + CARD_SUFFIX)
    with atomic_file(path) as tmp:
        joblib.dump({"model": model, "card": card}, tmp)
    sign_file(path)
    write_json(card, card_path)
    return path, card_path


def load_model(path: str | os.PathLike,
               expected_features: list[str] | None = None) -> tuple[RepeatOffenderModel, dict]:
    """Load a model saved by :func:`save_model`; returns ``(model, card)``.

    The file's signature is checked before it is unpickled: a file not signed
    with this machine's key raises :class:`UntrustedModelError` and is never
    read. A signed file that is not a model of this version's format raises
    :class:`ModelFileError`. With ``expected_features``, raises
    :class:`FeatureMismatchError` when the model was made with a different
    feature list.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    verify_file(path)
    try:
        blob = joblib.load(path)
    except Exception as e:
        raise ModelFileError(f"{path}: not a ringfence model file ({e})") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), RepeatOffenderModel):
        raise ModelFileError(f"{path}: not a ringfence model file")
    model, card = blob["model"], blob["card"]
    if card.get("format", 1) != FORMAT:
        raise ModelFileError(f"{path}: saved by another ringfence version (model format "
                         f"{card.get('format', 1)}, this version reads {FORMAT}); "
                         "retrain it (ringfence train)")
    if expected_features is not None:
        check_features(model, expected_features, path, card.get("created_at"))
    return model, card


def check_features(model: RepeatOffenderModel, features: list[str], path: str | os.PathLike,
                   created_at: str | None = None) -> None:
    """Raise :class:`FeatureMismatchError` unless ``model`` was fitted on ``features``, in order.

    >>> m = RepeatOffenderModel()
    >>> m.feature_names_in_ = np.array(["a", "b"], dtype=object)
    >>> check_features(m, ["a", "b"], "m.joblib")
    >>> check_features(m, ["a", "c"], "m.joblib")
    Traceback (most recent call last):
    ...
    ringfence.models.model.FeatureMismatchError: m.joblib: the model was made with a different feature list (created None): features it needs that this data lacks: ['b']; features of this data it does not know: ['c']. Retrain it on data of this shape (ringfence train).
    """
    if list(model.feature_names_in_) == list(features):
        return
    missing = [c for c in model.feature_names_in_ if c not in features]
    extra = [c for c in features if c not in model.feature_names_in_]
    raise FeatureMismatchError(
        f"{path}: the model was made with a different feature list "
        f"(created {created_at}): features it needs that this data lacks: "
        f"{missing[:10]}; features of this data it does not know: {extra[:10]}. "
        "Retrain it on data of this shape (ringfence train).")

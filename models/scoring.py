"""How accounts get their scores: a model (fitted in the run or loaded from a file), or
blacklist propagation alone.

A scorer is any object with ``score(tables, state, stages) -> Scoring``
(:class:`Scorer`). :class:`ModelScorer` is the default: it loads a saved model,
or fits one in the same run when the enforcement table holds enough labels,
and otherwise falls back to propagation alone, saying why in
``Scoring.info["reason"]``. :class:`PropagationScorer` never uses a model.

Examples
--------
>>> from ringfence.graph.synth import generate_platform
>>> from ringfence.graph.tables import load_tables
>>> from ringfence.graph.pipeline import run_pipeline
>>> p = generate_platform(n_accounts=1000, seed=1)
>>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
>>> scoring = PropagationScorer().score(t, run_pipeline(t))
>>> scoring.mode, len(scoring.scores) == 1000
('propagation', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ringfence.graph.pipeline import GraphState
from ringfence.graph.progress import Stages
from ringfence.graph.tables import Tables
from ringfence.models.model import RepeatOffenderModel, check_features, load_model
from ringfence.models.training import (MIN_LABELS, explanations_text, fit_model, labelled_nodes,
                                       scoring_features)

__all__ = ["EXPLAIN_LIMIT", "Scoring", "Scorer", "ModelScorer", "PropagationScorer",
           "rank_order", "percentile_of_rank", "make_scorer", "saved_model"]

# the top-ranked eligible accounts get feature contributions (cost: n x features
# predictions); the others keep their evidence paths
EXPLAIN_LIMIT = 1000


@dataclass
class Scoring:
    """What a scorer returns.

    Attributes
    ----------
    scores : numpy.ndarray
        One score per node of the graph, in [0, 1].
    mode : str
        ``"model"``, ``"model (fitted in this run)"`` or ``"propagation"``.
    info : dict
        JSON-ready facts for the run record (source, training summary,
        cross-validated metrics, the reason for falling back to propagation).
    explanations : dict of int to str
        For the :data:`EXPLAIN_LIMIT` highest-ranked eligible nodes (neither
        banned nor cleared), the features that pushed the score up most.
    """

    scores: np.ndarray
    mode: str
    info: dict[str, Any] = field(default_factory=dict)
    explanations: dict[int, str] = field(default_factory=dict)


class Scorer(Protocol):
    """Anything that scores every account of a :class:`GraphState`."""

    def score(self, tables: Tables, state: GraphState,
              stages: Stages | None = None) -> Scoring: ...


def eligible_nodes(state: GraphState) -> np.ndarray:
    """Accounts that may be queued: neither banned nor cleared by a reviewer."""
    status = state.graph.status
    return ~status["banned"].to_numpy() & ~status["cleared"].to_numpy()


def rank_order(scores: np.ndarray, eligible: np.ndarray,
               account_ids: np.ndarray | None = None) -> np.ndarray:
    """Eligible nodes from riskiest to least risky.

    Ties in the order of ``account_ids`` when given (so that the queue does
    not depend on the order of the input rows), else in node order.
    Cost: O(n log n).
    """
    elig = np.flatnonzero(eligible)
    if account_ids is None:
        return elig[np.lexsort((elig, -scores[elig]))]
    by_id = np.argsort(np.asarray(account_ids)[elig].astype(str), kind="stable")
    id_rank = np.empty(len(elig), np.int64)
    id_rank[by_id] = np.arange(len(elig))
    return elig[np.lexsort((id_rank, -scores[elig]))]


def percentile_of_rank(rank: np.ndarray) -> np.ndarray:
    """Per account, the share (in %) of ranked accounts it scores at or above; NaN if unranked.

    ``rank`` is 1 for the riskiest eligible account, NaN for accounts not
    ranked (banned or cleared). Rank 1 of 20,000 is 100.0, rank 200 is
    99.005: the account's place in the queue, which stays meaningful where
    the score's probability is not (see docs/how-it-works.md).

    Examples
    --------
    >>> percentile_of_rank(np.array([1.0, 2.0, np.nan, 4.0, 3.0])).tolist()
    [100.0, 75.0, nan, 25.0, 50.0]
    """
    rank = np.asarray(rank, float)
    n = np.count_nonzero(~np.isnan(rank))
    return 100.0 * (n - rank + 1) / max(n, 1)


def _explanations(model: RepeatOffenderModel, X, scores: np.ndarray,
                  state: GraphState) -> dict[int, str]:
    nodes = rank_order(scores, eligible_nodes(state), state.graph.account_ids)[:EXPLAIN_LIMIT]
    texts = explanations_text(model.explain(X.iloc[nodes]))
    return {int(n): t for n, t in zip(nodes, texts) if t}


def _propagation(state: GraphState) -> np.ndarray:
    if state.propagation is None:
        raise ValueError("scoring needs the propagation stage (run_pipeline(..., "
                         "stop_after='propagation'))")
    return state.propagation["propagation_score"].to_numpy(float)


@dataclass
class PropagationScorer:
    """Scores are the blacklist propagation scores; no model.

    ``reason`` is recorded in the run (why no model was used).
    """

    reason: str = "no model given"

    def score(self, tables: Tables, state: GraphState,
              stages: Stages | None = None) -> Scoring:
        return Scoring(_propagation(state), "propagation", {"reason": self.reason})


@dataclass
class ModelScorer:
    """The repeat-offender model: loaded from ``model_path``, or fitted in this run.

    Parameters
    ----------
    model_path
        A model saved by ``ringfence train`` (:func:`ringfence.models.model.save_model`);
        it scores every account.
    min_labels
        Without ``model_path``, a model is fitted in the run when enforcement
        holds at least this many banned and this many cleared accounts
        (training accounts then get their out-of-fold probability); else the
        scores are propagation alone and ``info["reason"]`` says why.
    params
        Parameters of :class:`~ringfence.models.model.RepeatOffenderModel`.
    seed
        Seed of the folds and the booster.
    max_age_days
        With ``model_path``: ``info["warnings"]`` says to retrain a model trained
        more than this many days ago (None: never).
    """

    model_path: str | Path | None = None
    min_labels: int = MIN_LABELS
    params: dict[str, Any] | None = None
    seed: int = 0
    max_age_days: float | None = None

    def score(self, tables: Tables, state: GraphState,
              stages: Stages | None = None) -> Scoring:
        stages = stages or Stages(quiet=True)
        if self.model_path is not None:
            return self._saved(tables, state, stages)
        _, y = labelled_nodes(state.graph)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        if n_pos < self.min_labels or n_neg < self.min_labels:
            return PropagationScorer(
                f"too few labels to fit a model: {n_pos} banned and {n_neg} cleared accounts "
                f"(need {self.min_labels} of each)").score(tables, state)
        model, X, summary = fit_model(tables, state, params=self.params, seed=self.seed,
                                      stages=stages)
        with stages.stage("score"):
            p = model.predict_proba(X)[:, 1]
            # honest scores for labelled accounts: out of fold for the fitted rows; any
            # others (beyond the fitting sample) were never seen by the model
            p[summary.pop("train_nodes")] = model.oof_proba_
            explanations = _explanations(model, X, p, state)
        return Scoring(p, "model (fitted in this run)",
                       {"training": summary, "cv_metrics": model.cv_metrics_,
                        "features": int(X.shape[1])}, explanations)

    def _saved(self, tables: Tables, state: GraphState, stages: Stages) -> Scoring:
        with stages.stage("features"):
            X = scoring_features(state.graph, tables.accounts, state.identity, state.membership,
                                 propagation=state.propagation)
        with stages.stage("model"):
            model, columns, info = saved_model(self.model_path, list(X.columns),
                                               self.max_age_days)
            if columns != list(X.columns):
                X = X[columns]
            p = model.predict_proba(X)[:, 1]
            explanations = _explanations(model, X, p, state)
        return Scoring(p, "model", info, explanations)


def saved_model(path: str | Path, columns: list[str], max_age_days: float | None = None
                ) -> tuple[RepeatOffenderModel, list[str], dict[str, Any]]:
    """A saved model (one read of the file), the feature columns to score it with, and
    what ``run.json`` says of it (``info``: source, creation time, metrics, warnings).

    ``columns``: the features this run computed, in order. When they are the model's
    plus new ones (the inputs gained columns since training), the model scores with
    the ones it knows, in its order, and ``info["warnings"]`` says to retrain it; any
    other difference raises :class:`~ringfence.models.model.FeatureMismatchError`.
    Both engines call it (beyond the driver with the Spark features' columns).
    Cost: loading the file.
    """
    model, card = load_model(path)
    known = list(model.feature_names_in_)
    new = [c for c in columns if c not in set(known)]
    if new and not [c for c in known if c not in set(columns)]:
        # the inputs gained columns since training: score with what the model knows
        columns = known
    check_features(model, list(columns), path, card.get("created_at"))
    info = {"source": str(path), "created_at": card.get("created_at"),
            "cv_metrics": card.get("cv_metrics")}
    warnings = [w for w in (
        model_age_warning(path, card.get("created_at"), max_age_days),
        f"{path}: the inputs' schema changed since the model was trained: "
        f"{len(new)} features it does not know ({', '.join(new[:5])}"
        f"{', ...' if len(new) > 5 else ''}) are left out of its scores; retrain it "
        "(ringfence train) to use them" if new else None) if w]
    if warnings:
        info["warnings"] = warnings
    return model, list(columns), info


def model_age_warning(path: str | Path, created_at: str | None, max_age_days: float | None,
                      now: datetime | None = None) -> str | None:
    """The warning for a saved model older than ``max_age_days`` (None if it is not).

    Examples
    --------
    >>> model_age_warning("m.joblib", "2026-01-01T00:00:00+00:00", 30,
    ...                   now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    'm.joblib: the model was trained 60 days ago (2026-01-01T00:00:00+00:00), more than the 30 days allowed (max_model_age_days): retrain it (ringfence train) so that it learns from recent bans and decisions'
    """
    if max_age_days is None or not created_at:
        return None
    try:
        created = datetime.fromisoformat(str(created_at))
    except ValueError:
        return f"{path}: the model card has no readable creation time ({created_at!r})"
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    age = ((now or datetime.now(timezone.utc)) - created).total_seconds() / 86400
    if age <= max_age_days:
        return None
    return (f"{path}: the model was trained {age:.0f} days ago ({created_at}), more than the "
            f"{max_age_days:g} days allowed (max_model_age_days): retrain it (ringfence "
            "train) so that it learns from recent bans and decisions")


def make_scorer(scorer: "Scorer | str", *, model_path: str | Path | None = None,
                seed: int = 0, max_age_days: float | None = None) -> Scorer:
    """A scorer from its name: ``"auto"`` (:class:`ModelScorer`) or ``"propagation"``.

    A :class:`Scorer` object is returned as it is.
    """
    if isinstance(scorer, str):
        if scorer == "auto":
            return ModelScorer(model_path=model_path, seed=seed, max_age_days=max_age_days)
        if scorer == "propagation":
            return PropagationScorer()
        raise ValueError(f"scorer must be 'auto', 'propagation' or a Scorer, got {scorer!r}")
    if scorer is None or not callable(getattr(scorer, "score", None)):
        raise TypeError(f"scorer must be 'auto', 'propagation' or an object with a "
                        f"score(tables, state, stages) method, got {scorer!r}")
    return scorer

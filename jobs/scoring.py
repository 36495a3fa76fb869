"""How the flag job turns the graph into scores: a loaded model, a model fitted
in the same run, or propagation alone (the fallback, said in the summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph
from ringfence.graph.identity import Identities
from ringfence.graph.tables import Tables
from ringfence.jobs.progress import Stages
from ringfence.models.model import RepeatOffenderModel, load_model
from ringfence.models.training import (MIN_LABELS, explanations_text, labelled_nodes, scoring_features,
                             training_set)

__all__ = ["model_scorer", "fit_from_graph"]

# the top-ranked flags get feature contributions (cost: n x features predictions); the rest
# keep their evidence paths
EXPLAIN_LIMIT = 1000
# fitting cost grows with the labelled rows; beyond this many, a stratified sample is fitted
# and the other labelled accounts are scored by the model that never saw them
MAX_FIT_ROWS = 20_000


def _fit_sample(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Positions of at most ``limit`` rows, the class shares kept, deterministic for a seed."""
    if len(y) <= limit:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        k = max(1, round(limit * len(idx) / len(y)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def fit_from_graph(tables: Tables, graph: AccountGraph, identities: Identities,
                   membership: np.ndarray, *, params: dict[str, Any] | None = None,
                   seed: int = 0, stages: Stages | None = None,
                   propagation: pd.DataFrame | None = None
                   ) -> tuple[RepeatOffenderModel, pd.DataFrame, dict[str, Any]]:
    """Fit the model on the graph's labels; returns (model, features of all accounts, summary).

    ``propagation`` is ``propagate_blacklist(graph, graph.config)`` if already computed.
    """
    stages = stages or Stages(quiet=True)
    with stages.stage("features"):
        ts = training_set(graph, tables.accounts, identities.identity, membership,
                          config=graph.config, seed=seed, propagation=propagation)
    with stages.stage("model"):
        model = RepeatOffenderModel(random_state=seed, **(params or {}))
        fit = _fit_sample(ts.y, MAX_FIT_ROWS, seed)
        nodes = ts.train_nodes[fit]
        model.fit(ts.X.iloc[nodes].reset_index(drop=True), ts.y[fit], folds=ts.folds[fit])
    summary = {**ts.summary, "fitted_rows": int(len(fit)), "train_nodes": nodes}
    return model, ts.X, summary


def _explainer(model: RepeatOffenderModel, X: pd.DataFrame) -> Callable[[np.ndarray], dict]:
    def explain(nodes: np.ndarray) -> dict[int, str]:
        nodes = np.asarray(nodes)[:EXPLAIN_LIMIT]
        texts = explanations_text(model.explain(X.iloc[nodes]))
        return {int(n): t for n, t in zip(nodes, texts) if t}
    return explain


def model_scorer(model_path: str | Path | None = None, *, use_model: bool = True,
                 min_labels: int = MIN_LABELS, params: dict[str, Any] | None = None,
                 seed: int = 0) -> Callable[..., tuple[np.ndarray, dict[str, Any]]]:
    """A scorer for :func:`jobs.flag.run_flag`.

    With ``model_path``, the saved model scores every account. Otherwise, when
    enforcement holds at least ``min_labels`` banned and ``min_labels``
    cleared accounts, a model is fitted in the same run on those labels
    (training accounts get their out-of-fold probability); else scores are
    propagation alone and the returned info says why.
    """

    def scorer(*, tables: Tables, graph: AccountGraph, identities: Identities,
               membership: np.ndarray, propagation: pd.DataFrame, stages: Stages):
        prop = propagation["propagation_score"].to_numpy(float)
        if model_path is not None:
            with stages.stage("features"):
                X = scoring_features(graph, tables.accounts, identities.identity, membership,
                                     propagation=propagation)
            with stages.stage("model"):
                model, card = load_model(model_path, expected_features=list(X.columns))
                p = model.predict_proba(X)[:, 1]
            return p, {"mode": "model", "source": str(model_path),
                       "created_at": card.get("created_at"),
                       "cv_metrics": card.get("cv_metrics"),
                       "explain": _explainer(model, X)}
        nodes, y = labelled_nodes(graph)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        if not use_model:
            return prop, {"mode": "propagation", "reason": "model disabled (--no-model)"}
        if n_pos < min_labels or n_neg < min_labels:
            return prop, {"mode": "propagation",
                          "reason": f"too few labels to fit a model: {n_pos} banned and "
                                    f"{n_neg} cleared accounts (need {min_labels} of each)"}
        model, X, summary = fit_from_graph(tables, graph, identities, membership,
                                           params=params, seed=seed, stages=stages,
                                           propagation=propagation)
        with stages.stage("score"):
            p = model.predict_proba(X)[:, 1]
            # honest scores for labelled accounts: out of fold for the fitted rows; any others
            # (beyond MAX_FIT_ROWS) were never seen by the model
            p[summary["train_nodes"]] = model.oof_proba_
        summary.pop("train_nodes")
        return p, {"mode": "model (fitted in this run)", "training": summary,
                   "cv_metrics": model.cv_metrics_, "features": int(X.shape[1]),
                   "explain": _explainer(model, X)}

    return scorer

"""Training data from the account graph, fitting, and scoring every account.

Labels come from ``enforcement``: banned accounts are positives, cleared
accounts negatives, everyone else is unlabelled and scored. Label features of
training accounts are computed out of fold (see :mod:`models.features`), with
the same folds the model uses for its out-of-fold calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.pipeline import GraphState
from ringfence.graph.progress import Stages
from ringfence.graph.tables import Tables
from ringfence.models.features import account_features, out_of_fold_label_features
from ringfence.models.model import RepeatOffenderModel

__all__ = ["MIN_LABELS", "MAX_FIT_ROWS", "TrainingSet", "labelled_nodes", "training_set",
           "scoring_features", "fit_model", "explanations_text", "FEATURE_DESCRIPTIONS"]

MIN_LABELS = 20  # banned and cleared accounts each, to fit a model in the flag job
LARGE_LABEL_SET = 20_000  # above this many labels, 3 folds instead of 5 (each fold costs a
                          # propagation and a fit; 3 folds of 7,000+ labels are plenty)
# fitting cost grows with the labelled rows; beyond this many, a stratified sample is fitted
# and the other labelled accounts are scored by the model that never saw them
MAX_FIT_ROWS = 20_000
# above LARGE_LABEL_SET labels the model is three fold boosters of 100 trees at three times the
# learning rate: scoring every account costs the 300 trees one booster used to, not 900
LARGE_SET_PARAMS = {"max_iter": 100, "learning_rate": 0.09}


def default_folds(n_labels: int) -> int:
    """5 folds, or 3 for label sets above ``LARGE_LABEL_SET``."""
    return 5 if n_labels <= LARGE_LABEL_SET else 3


@dataclass
class TrainingSet:
    """Features of every account plus the labelled rows to fit on."""

    X: pd.DataFrame              # one row per account (node order); training rows out of fold
    train_nodes: np.ndarray      # labelled nodes
    y: np.ndarray                # 1 = banned, 0 = cleared
    folds: np.ndarray            # fold of each training node
    summary: dict[str, Any] = field(default_factory=dict)


def labelled_nodes(graph: AccountGraph) -> tuple[np.ndarray, np.ndarray]:
    """Nodes with a label (banned -> 1, cleared -> 0) and their labels."""
    banned = graph.status["banned"].to_numpy()
    cleared = graph.status["cleared"].to_numpy()
    nodes = np.flatnonzero(banned | cleared)
    return nodes, banned[nodes].astype(int)


def _keyed_hash(account_ids: np.ndarray, seed: int) -> np.ndarray:
    key = f"ringfence{seed:07d}"[-16:].rjust(16, "0")
    return pd.util.hash_array(np.asarray(account_ids, dtype=object).astype(str), hash_key=key)


def assign_folds(account_ids: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """A fold per account from a keyed hash of its id.

    The fold of an account never depends on anyone's label or on the order of
    the input rows, so changing one account's label cannot move other
    accounts between folds (and so cannot change its own out-of-fold features
    through them). The flag job uses the same folds whatever its seed
    (``seed=0``): a run's seed changes the boosters, never which labels an
    account's features may see.
    """
    return (_keyed_hash(account_ids, seed) % np.uint64(n_folds)).astype(np.int64)


# features read from the Leiden clusters: the model leaves them out. The clusters move with the
# graph's seed (Leiden's random moves), and through these features so did the queue: runs with
# seeds 0, 1 and 2 shared 47-90 % of their top 30 on a 3,000-account platform (97-100 % without
# them), and 10 added links moved scores of accounts far from them by up to 0.28
CLUSTER_FEATURES = ("cluster_size", "banned_in_cluster", "cluster_banned_share",
                    "violations_in_cluster")


def _all_features(graph: AccountGraph, accounts: pd.DataFrame, identity: np.ndarray,
                  membership: np.ndarray, nodes: np.ndarray, folds: np.ndarray,
                  config: GraphConfig | None, n_jobs: int,
                  propagation: pd.DataFrame | None) -> pd.DataFrame:
    # one after the other: beside the label passes the label-free features gained nothing
    # in time (the passes already use the cores) and cost 0.8 GB more at 1,000,000 accounts
    base = account_features(graph, accounts, identity, membership)
    lab = out_of_fold_label_features(graph, identity, membership, nodes, folds, config,
                                     n_jobs=n_jobs, propagation=propagation)
    return pd.concat([base, lab], axis=1).drop(columns=list(CLUSTER_FEATURES))


def scoring_features(graph: AccountGraph, accounts: pd.DataFrame, identity: np.ndarray,
                     membership: np.ndarray, config: GraphConfig | None = None, *,
                     n_folds: int | None = None, seed: int = 0, n_jobs: int = -1,
                     propagation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features of every account for scoring with a fitted model.

    Unlabelled accounts see all labels; labelled accounts get out-of-fold label
    features, as in training, so their own label never inflates their score.
    """
    nodes, _ = labelled_nodes(graph)
    folds = assign_folds(graph.account_ids[nodes], n_folds or default_folds(len(nodes)))
    return _all_features(graph, accounts, identity, membership, nodes, folds, config, n_jobs,
                         propagation)


def training_set(graph: AccountGraph, accounts: pd.DataFrame, identity: np.ndarray,
                 membership: np.ndarray, *, config: GraphConfig | None = None,
                 n_folds: int | None = None, seed: int = 0, n_jobs: int = -1,
                 propagation: pd.DataFrame | None = None) -> TrainingSet:
    """Features for fitting and scoring in one pass.

    Every account gets label-free features; labelled accounts get label
    features with their own fold's labels hidden, unlabelled accounts with all
    labels visible. ``n_jobs`` threads compute the label features (-1: one
    per core); the result does not depend on it. ``propagation``:
    ``propagate_blacklist(graph, config)`` when already computed.
    """
    nodes, y = labelled_nodes(graph)
    n_folds = n_folds or default_folds(len(nodes))
    if len(np.unique(y)) < 2 or np.bincount(y, minlength=2).min() < n_folds:
        raise ValueError(f"need at least {n_folds} banned and {n_folds} cleared accounts to "
                         f"train, got {int(y.sum())} banned and {int((1 - y).sum())} cleared")
    folds = assign_folds(graph.account_ids[nodes], n_folds)
    for f in range(n_folds):
        if len(np.unique(y[folds != f])) < 2:
            raise ValueError(f"fold {f} leaves only one class to train on: too few labels")
    X = _all_features(graph, accounts, identity, membership, nodes, folds, config, n_jobs,
                         propagation)
    summary = {"accounts": int(graph.n_accounts), "positives": int(y.sum()),
               "negatives": int(len(y) - y.sum()), "folds": n_folds,
               "features": int(X.shape[1]), "as_of": graph.as_of.isoformat()}
    return TrainingSet(X=X, train_nodes=nodes, y=y, folds=folds, summary=summary)


def _fit_sample(y: np.ndarray, limit: int, seed: int, account_ids: np.ndarray) -> np.ndarray:
    """Positions of at most ``limit`` rows, the class shares kept.

    The rows kept are those whose ids have the smallest keyed hash for the
    seed: the same accounts whatever the order of the input rows.
    """
    if len(y) <= limit:
        return np.arange(len(y))
    h = _keyed_hash(account_ids, seed)
    keep = []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        k = max(1, round(limit * len(idx) / len(y)))
        keep.append(idx[np.argsort(h[idx], kind="stable")[:k]])
    return np.sort(np.concatenate(keep))


def fit_model(tables: Tables, state: GraphState, *, params: dict[str, Any] | None = None,
              seed: int = 0, stages: Stages | None = None
              ) -> tuple[RepeatOffenderModel, pd.DataFrame, dict[str, Any]]:
    """Fit the repeat-offender model on the graph's labels.

    Returns ``(model, X, summary)``: the fitted model, the features of every
    account (labelled ones out of fold) and a summary for the run record
    whose ``train_nodes`` are the nodes the model was fitted on. Needs a
    state that went through the clusters stage; its propagation is reused
    when present.

    Cost: the features' label passes (one propagation per fold) and one
    booster fit per fold on at most :data:`MAX_FIT_ROWS` labelled rows
    (above ``LARGE_LABEL_SET`` labels, :data:`LARGE_SET_PARAMS`).
    """
    stages = stages or Stages(quiet=True)
    with stages.stage("features"):
        ts = training_set(state.graph, tables.accounts, state.identity, state.membership,
                          config=state.graph.config, seed=seed, propagation=state.propagation)
    with stages.stage("model"):
        large = LARGE_SET_PARAMS if len(ts.y) > LARGE_LABEL_SET else {}
        model = RepeatOffenderModel(random_state=seed, **{**large, **(params or {})})
        fit = _fit_sample(ts.y, MAX_FIT_ROWS, seed, state.graph.account_ids[ts.train_nodes])
        nodes = ts.train_nodes[fit]
        model.fit(ts.X.iloc[nodes].reset_index(drop=True), ts.y[fit], folds=ts.folds[fit])
    summary = {**ts.summary, "fitted_rows": int(len(fit)), "train_nodes": nodes}
    return model, ts.X, summary


FEATURE_DESCRIPTIONS = {
    "banned_nb1": "banned neighbours (link-weighted)",
    "banned_share1": "share of link weight to banned accounts",
    "banned_share2": "banned accounts within two hops",
    "ban_weight_nb1": "recent, repeat-offending banned neighbours",
    "ban_weight_share1": "share of links to recent banned accounts",
    "ban_weight_share2": "recent banned accounts within two hops",
    "violations_nb1": "violations of neighbours",
    "violations_share1": "violations per unit of link weight",
    "violations_share2": "violations within two hops",
    "cleared_nb1": "cleared neighbours",
    "banned_rate1": "banned share of reviewed neighbours",
    "banned_rate2": "banned share of reviewed accounts within two hops",
    "reviewed_share1": "share of links to reviewed accounts",
    "max_link_to_banned": "strongest identity link to a banned account",
    "banned_in_identity": "banned accounts in the same identity",
    "propagation": "blacklist propagation score",
    "propagation_raw_log": "blacklist propagation mass (log)",
    "identity_size": "accounts in the same identity",
    "hub_exposure": "largest share count among its identifiers (log)",
    "account_age_days": "account age in days",
    "degree": "total link weight",
    "neighbours": "linked accounts",
}


def _describe(feature: str) -> str:
    if feature in FEATURE_DESCRIPTIONS:
        return FEATURE_DESCRIPTIONS[feature]
    for prefix, text in (("n_ident_", "{} identifiers used"), ("shared_", "accounts sharing its {}"),
                         ("n_edges_", "{} edges"), ("attr_", "attribute {}")):
        if feature.startswith(prefix):
            return text.format(feature[len(prefix):])
    if feature.startswith("nb_"):
        _, agg, rest = feature.split("_", 2)
        return f"neighbours' {agg[:-1]} of {rest} ({agg[-1]} hop{'s' if agg[-1] != '1' else ''})"
    return feature


def _value(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def explanations_text(explained: list[list[tuple[str, Any, float]]]) -> list[str]:
    """One sentence per account: the features that pushed its score up most."""
    out = []
    for items in explained:
        if not items:
            out.append("")
            continue
        parts = [f"{_describe(f)} = {_value(v)} (+{c:.2f})" for f, v, c in items]
        out.append("model, top contributions in log-odds: " + ", ".join(parts))
    return out

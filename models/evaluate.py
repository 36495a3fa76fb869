"""Measuring a review queue against ground truth or held-out labels.

Tables in, numbers out: ``scores`` is the flag job's ``scores`` table
(``account_id``, ``score``, ``rank``, ``flagged``, ``identity_id``, and
``banned``/``cleared`` for accounts already decided); ``truth`` has
``account_id`` and a 0/1 label column (``is_offender`` for the synthetic
platform, ``banned`` for real data) and optionally ``actor_id`` and ``split``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "precision_at_k",
    "pairwise_identity_scores",
    "reliability_table",
    "evaluate_scores",
]


def precision_at_k(y_true: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of positives among the ``k`` highest scores (ties broken by position).

    Examples
    --------
    >>> precision_at_k(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]), 2)
    0.5
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.lexsort((np.arange(len(score)), -np.asarray(score, float)))[:k]
    return float(np.asarray(y_true)[order].mean()) if len(order) else float("nan")


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def pairwise_identity_scores(identity: np.ndarray, actor: np.ndarray) -> dict[str, float]:
    """Pairwise precision and recall of predicted identities against true actors.

    A pair of accounts is predicted linked when both have the same identity
    id >= 0 (``-1`` means linked to nobody), truly linked when they share an
    actor. Precision = correct linked pairs / predicted linked pairs; recall =
    correct linked pairs / true pairs. Cost: O(n) via group counts.

    Examples
    --------
    >>> pairwise_identity_scores(np.array([0, 0, 0, -1]), np.array(["x", "x", "y", "y"]))
    {'precision': 0.3333333333333333, 'recall': 0.5, 'predicted_pairs': 3, 'true_pairs': 2}
    """
    identity = np.asarray(identity)
    actor_codes = pd.factorize(pd.Series(actor))[0]
    linked = identity >= 0
    pred = _pairs(np.bincount(identity[linked])) if linked.any() else 0.0
    true = _pairs(np.bincount(actor_codes))
    cells = pd.DataFrame({"i": identity[linked], "a": actor_codes[linked]}).value_counts()
    correct = _pairs(cells.to_numpy())
    return {"precision": correct / pred if pred else float("nan"),
            "recall": correct / true if true else float("nan"),
            "predicted_pairs": int(pred), "true_pairs": int(true)}


def reliability_table(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Calibration by equal-width probability bins: mean predicted vs observed rate."""
    prob = np.clip(np.asarray(prob, float), 0, 1)
    bins = np.minimum((prob * n_bins).astype(int), n_bins - 1)
    df = pd.DataFrame({"bin": bins, "p": prob, "y": np.asarray(y_true, float)})
    g = df.groupby("bin")
    out = pd.DataFrame({"accounts": g.size(), "mean_predicted": g["p"].mean(),
                        "observed_rate": g["y"].mean()})
    out.index = [f"[{b / n_bins:.1f}, {(b + 1) / n_bins:.1f})" for b in out.index]
    out.index.name = "predicted"
    return out


def evaluate_scores(scores: pd.DataFrame, truth: pd.DataFrame, *, label: str | None = None,
                    split: str | None = None, ks: tuple[int, ...] = (10, 50, 100, 500, 1000),
                    capacity: int | None = None) -> dict[str, object]:
    """Quality of a review queue: ranking, the flagged set, identities, calibration.

    Accounts already banned in the input are left out (they are not in the
    queue); so are cleared accounts unless ``split`` selects held-out rows,
    where all rows of that split count.

    Parameters
    ----------
    scores
        The flag job's ``scores`` table.
    truth
        ``account_id`` plus the label column, optionally ``actor_id``,
        ``split``, ``full_rotator``, ``hidden``.
    label
        Label column; default ``is_offender`` if present, else ``banned``.
    split
        Restrict to truth rows whose ``split`` equals this (e.g. ``"test"``).
    ks
        Precision at these K (those larger than the evaluated set are skipped).
    capacity
        Review capacity for precision/recall at capacity; default the number
        of flagged accounts.

    Returns
    -------
    dict
        ``evaluated``, ``positives``, ``roc_auc``, ``average_precision``,
        ``flagged_precision``, ``flagged_recall``, ``precision_at``,
        ``brier``, ``reliability`` (a DataFrame), ``identity_pairs`` and
        ``recall_by_group`` when the truth has the columns.
    """
    if label is None:
        label = "is_offender" if "is_offender" in truth.columns else "banned"
    for col in ("account_id", label):
        if col not in truth.columns:
            raise ValueError(f"truth table has no column {col!r}; columns: {list(truth.columns)}")
    for col in ("account_id", "score", "flagged"):
        if col not in scores.columns:
            raise ValueError(f"scores table has no column {col!r}")
    truth = truth.rename(columns={label: "_label"})
    label = "_label"
    truth["account_id"] = truth["account_id"].astype(str)
    s = scores.copy()
    s["account_id"] = s["account_id"].astype(str)
    df = s.merge(truth, on="account_id", how="inner", suffixes=("", "_truth"))
    for col in ("actor_id", "split", "full_rotator", "hidden"):
        if f"{col}_truth" in df.columns:
            df[col] = df[f"{col}_truth"]
    if len(df) != len(truth):
        missing = len(truth) - len(df)
        raise ValueError(f"{missing} truth accounts are not in the scores table")
    out: dict[str, object] = {}
    if split is not None:
        if "split" not in df.columns:
            raise ValueError("truth table has no 'split' column")
        df = df[df["split"].astype(str) == split]
    else:
        known = df["banned"].astype(bool) if "banned" in scores.columns else False
        if "cleared" in scores.columns:
            known = known | df["cleared"].astype(bool)
        df = df[~np.asarray(known, bool)]
    y = df[label].astype(int).to_numpy()
    p = df["score"].to_numpy(float)
    out["evaluated"] = int(len(df))
    out["positives"] = int(y.sum())
    both = 0 < y.sum() < len(y)
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else float("nan")
    out["average_precision"] = float(average_precision_score(y, p)) if both else float("nan")
    flagged = df["flagged"].astype(bool).to_numpy()
    out["flagged"] = int(flagged.sum())
    out["flagged_precision"] = float(y[flagged].mean()) if flagged.any() else float("nan")
    out["flagged_recall"] = float(y[flagged].sum() / y.sum()) if y.sum() else float("nan")
    out["precision_at"] = {k: precision_at_k(y, p, k) for k in ks if k <= len(y)}
    cap = capacity if capacity is not None else int(flagged.sum())
    if cap and cap <= len(y):
        order = np.lexsort((np.arange(len(p)), -p))[:cap]
        out["capacity"] = cap
        out["precision_at_capacity"] = float(y[order].mean())
        out["recall_at_capacity"] = float(y[order].sum() / y.sum()) if y.sum() else float("nan")
    out["brier"] = float(brier_score_loss(y, np.clip(p, 0, 1))) if len(y) else float("nan")
    out["reliability"] = reliability_table(y, p)
    if "actor_id" in df.columns and "identity_id" in s.columns:
        full = s.merge(truth[["account_id", "actor_id"]], on="account_id")
        out["identity_pairs"] = pairwise_identity_scores(full["identity_id"].to_numpy(),
                                                         full["actor_id"].to_numpy())
    groups = {}
    if "full_rotator" in df.columns:
        pos = df[df[label].astype(bool)]
        for name, mask in (("full rotators (weak traces only)", pos["full_rotator"].astype(bool)),
                           ("other offenders", ~pos["full_rotator"].astype(bool))):
            sub = pos[mask.to_numpy()]
            if len(sub):
                groups[name] = {"accounts": int(len(sub)),
                                "flagged_recall": float(sub["flagged"].astype(bool).mean()),
                                "mean_score": float(sub["score"].mean())}
    if groups:
        out["recall_by_group"] = groups
    return out


def format_report(metrics: dict[str, object]) -> str:
    """A one-screen text report of :func:`evaluate_scores`."""
    lines = [f"evaluated accounts     {metrics['evaluated']:,} ({metrics['positives']:,} positive)"]

    def num(x: object) -> str:
        return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"

    lines.append(f"ROC-AUC                {num(metrics['roc_auc'])}")
    lines.append(f"average precision      {num(metrics['average_precision'])}")
    lines.append(f"flagged                {metrics['flagged']:,}: precision "
                 f"{num(metrics['flagged_precision'])}, recall {num(metrics['flagged_recall'])}")
    if "capacity" in metrics:
        lines.append(f"at capacity {metrics['capacity']:<10,} precision "
                     f"{num(metrics['precision_at_capacity'])}, recall "
                     f"{num(metrics['recall_at_capacity'])}")
    pk = metrics.get("precision_at") or {}
    if pk:
        lines.append("precision at K          " + ", ".join(f"@{k}: {num(v)}"
                                                             for k, v in pk.items()))
    lines.append(f"Brier score            {num(metrics['brier'])}")
    if "identity_pairs" in metrics:
        ip = metrics["identity_pairs"]
        lines.append(f"identity pairs         precision {num(ip['precision'])}, recall "
                     f"{num(ip['recall'])} ({ip['predicted_pairs']:,} predicted, "
                     f"{ip['true_pairs']:,} true)")
    for name, g in (metrics.get("recall_by_group") or {}).items():
        lines.append(f"  {name:<34} {g['accounts']:>6,} accounts, flagged recall "
                     f"{num(g['flagged_recall'])}, mean score {num(g['mean_score'])}")
    rel = metrics.get("reliability")
    if isinstance(rel, pd.DataFrame) and len(rel):
        lines.append("reliability (predicted bin: accounts, mean predicted, observed rate)")
        for idx, row in rel.iterrows():
            lines.append(f"  {idx:<12} {int(row['accounts']):>8,}  {row['mean_predicted']:.3f}  "
                         f"{row['observed_rate']:.3f}")
    return "\n".join(lines)


def time_split(tables, cutoff: str | pd.Timestamp):
    """What was known at ``cutoff``, and what happened after.

    Returns ``(before, outcome)``: ``before`` is a :class:`graph.tables.Tables`
    holding only accounts created, identifiers seen, edges made and
    enforcement actions taken at or before the cut-off (rows without a time
    are kept as known); ``outcome`` has one row per account known at the
    cut-off and not banned by then, with ``banned`` = 1 if it was banned
    after the cut-off. Train and flag on ``before``, evaluate against
    ``outcome`` with ``label="banned"``.
    """
    from ringfence.graph.tables import Tables

    cutoff = pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")

    def upto(df, col):
        if df is None or col not in df.columns:
            return df
        return df[df[col].isna() | (df[col] <= cutoff)].reset_index(drop=True)

    accounts = upto(tables.accounts, "created_at")
    known = accounts["account_id"]

    def known_only(df, cols):
        if df is None:
            return None
        keep = np.ones(len(df), bool)
        for c in cols:
            keep &= df[c].isin(known).to_numpy()
        return df[keep].reset_index(drop=True)

    identifiers = known_only(upto(tables.identifiers, "seen_at"), ("account_id",))
    edges = known_only(upto(tables.edges, "at"), ("src", "dst"))
    enf = tables.enforcement
    if enf is None or "at" not in enf.columns:
        raise ValueError("a time split needs enforcement actions with an 'at' time")
    enforcement = known_only(upto(enf, "at"), ("account_id",))
    banned_before = enforcement.loc[enforcement["action"] == "ban", "account_id"].unique()
    banned_after = enf.loc[(enf["at"] > cutoff) & (enf["action"] == "ban"), "account_id"].unique()
    ids = known[~known.isin(banned_before)].reset_index(drop=True)
    outcome = pd.DataFrame({"account_id": ids,
                            "banned": ids.isin(banned_after).astype(int)})
    before = Tables(accounts=accounts, identifiers=identifiers, edges=edges,
                    enforcement=enforcement, sources={k: f"{v} (up to {cutoff:%Y-%m-%d})"
                                                      for k, v in tables.sources.items()},
                    notes=list(tables.notes))
    return before, outcome

"""Judge a model change on repeated stratified folds of the train + val rows (never test).

Reddit's val split holds 73 banned accounts: gains measured on it vanished on
test (issue #14). This harness pools the ``train`` and ``val`` rows and, for
each of ``--repeats`` shuffles, splits them into ``--folds`` stratified
folds. For each fold the enforcement table holds the other folds' rows
(``ban`` or ``cleared``); the model is fitted as the flag job fits it and the
fold's rows, unlabelled in that run, are scored like test rows are. The
``test`` rows are never labelled and never scored.

    python benchmarks/cv_reddit.py                          # reddit-banned, 5 folds x 2 repeats
    python benchmarks/cv_reddit.py --params '{"max_iter": 200}'
    python benchmarks/cv_reddit.py --data ../shared/datasets/yelp-spam --repeats 1

The figures printed are the mean and standard deviation over the
folds x repeats of each fold's ROC-AUC and average precision.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "reddit-banned"


def outer_folds(labels: pd.DataFrame, n_folds: int, repeat: int) -> np.ndarray:
    """A stratified fold per ``train``/``val`` row (-1 for ``test``), shuffled by ``repeat``.

    Parameters
    ----------
    labels
        ``account_id``, ``banned`` (0/1) and ``split`` (``train``, ``val``, ``test``).
    n_folds
        Folds of the pooled ``train`` + ``val`` rows.
    repeat
        Seed of the shuffle: each repeat is another split into folds.

    Returns
    -------
    numpy.ndarray
        The fold of each row of ``labels`` (0..n_folds-1), -1 for ``test`` rows.
        Deterministic for a repeat and independent of the row order of ``labels``:
        rows are ordered by account id before the split.

    Examples
    --------
    >>> labels = pd.DataFrame({"account_id": [f"u{i}" for i in range(8)],
    ...                        "banned": [1, 0, 1, 0, 0, 0, 1, 0],
    ...                        "split": ["train"] * 4 + ["val"] * 2 + ["test"] * 2})
    >>> fold = outer_folds(labels, 2, repeat=0)
    >>> fold[-2:].tolist(), sorted(set(fold[:6].tolist()))
    ([-1, -1], [0, 1])
    """
    from sklearn.model_selection import StratifiedKFold

    pool = np.flatnonzero(labels["split"].isin(["train", "val"]).to_numpy())
    pool = pool[np.argsort(labels["account_id"].to_numpy()[pool], kind="stable")]
    y = labels["banned"].to_numpy()[pool]
    fold = np.full(len(labels), -1)
    skf = StratifiedKFold(n_folds, shuffle=True, random_state=repeat)
    for f, (_, held) in enumerate(skf.split(np.zeros(len(pool)), y)):
        fold[pool[held]] = f
    return fold


def fold_scores(tables_for, labels: pd.DataFrame, fold: np.ndarray, f: int,
                params: dict, seed: int) -> np.ndarray:
    """Scores of fold ``f``'s rows from a model fitted on the other folds' labels.

    ``tables_for(enforcement)`` gives the validated tables with that enforcement table.
    The flag job's graph stages and :func:`~ringfence.models.training.fit_model` run as in
    ``run_flag``; fold ``f``'s rows are unlabelled in that run, as test rows are in
    ``eval_reddit.py``, and the test rows stay unlabelled. Returns one probability per row
    of ``labels`` in fold ``f``, in the order of ``labels``.
    """
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.jobs.config import JobConfig
    from ringfence.models.training import fit_model

    known = (fold >= 0) & (fold != f)
    enforcement = pd.DataFrame({
        "account_id": labels["account_id"].to_numpy()[known],
        "action": np.where(labels["banned"].to_numpy()[known] == 1, "ban", "cleared")})
    tables = tables_for(enforcement)
    state = run_pipeline(tables, JobConfig().replace(seed=seed).graph)
    model, X, _ = fit_model(tables, state, params=params, seed=seed)
    node = pd.Series(np.arange(state.graph.n_accounts), index=state.graph.account_ids)
    rows = node.loc[labels["account_id"].to_numpy()[fold == f]].to_numpy()
    return model.predict_proba(X.iloc[rows])[:, 1]


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from ringfence.graph import load_tables

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="the model's seed")
    ap.add_argument("--params", default="{}", help="model parameters as JSON")
    ap.add_argument("--json", type=Path, help="also write the per-fold figures here")
    args = ap.parse_args(argv)

    if not (args.data / "accounts.csv.gz").exists():
        print(f"cv: no dataset at {args.data}", file=sys.stderr)
        return 2
    if args.folds < 2 or args.repeats < 1:
        print("cv: need --folds >= 2 and --repeats >= 1", file=sys.stderr)
        return 2
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as err:
        print(f"cv: --params is not JSON: {err}", file=sys.stderr)
        return 2
    labels = pd.read_csv(args.data / "labels.csv.gz", dtype={"account_id": str})
    base = load_tables(args.data / "accounts.csv.gz", edges=args.data / "edges.csv.gz",
                       enforcement=pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                                 "action": pd.Series([], dtype=str)}))

    def tables_for(enforcement: pd.DataFrame):
        return load_tables(base.accounts, edges=base.edges, enforcement=enforcement)

    rows = []
    for r in range(args.repeats):
        fold = outer_folds(labels, args.folds, r)
        for f in range(args.folds):
            t0 = time.process_time()
            p = fold_scores(tables_for, labels, fold, f, params, args.seed)
            y = labels["banned"].to_numpy()[fold == f]
            rows.append({"repeat": r, "fold": f, "roc_auc": roc_auc_score(y, p),
                         "average_precision": average_precision_score(y, p),
                         "cpu_seconds": time.process_time() - t0})
            print(f"repeat {r} fold {f}: ROC-AUC {rows[-1]['roc_auc']:.4f}  average precision "
                  f"{rows[-1]['average_precision']:.4f}  ({rows[-1]['cpu_seconds']:.0f} s CPU)",
                  flush=True)
    df = pd.DataFrame(rows)
    by_repeat = df.groupby("repeat")[["roc_auc", "average_precision"]].mean()
    print(f"{args.data.name}, {args.folds} folds x {args.repeats} repeats of train + val, "
          f"params {params}: ROC-AUC {df['roc_auc'].mean():.4f} ± {df['roc_auc'].std():.4f}, "
          f"average precision {df['average_precision'].mean():.4f} ± "
          f"{df['average_precision'].std():.4f} (spread over folds); repeat means "
          f"{' '.join(f'{a:.4f}/{b:.4f}' for a, b in by_repeat.to_numpy())}")
    if args.json:
        args.json.write_text(df.to_json(orient="records", indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

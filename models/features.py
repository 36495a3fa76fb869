"""Graph features, one row per account, computed vectorised from the account graph.

Two families:

* :func:`account_features`: label-free: the account's own attributes and
  age, its structure (identifiers per kind, edges per kind, hub exposure,
  identity and cluster size) and neighbourhood aggregates of its attributes
  over 1 and 2 hops (mean, max, min). GADBench (NeurIPS 2023)
  found such aggregates with tree ensembles beat graph neural networks for
  supervised graph anomaly detection.
* :func:`label_features`: derived from ``enforcement``: banned and cleared
  neighbours at 1 and 2 hops (weighted by link strength and recency), the
  smoothed banned rate among reviewed neighbours at 1 and 2 hops, violations
  nearby, banned accounts in the same identity and cluster, the strongest
  link to a banned account, and the propagation score.

Label leakage is the classic way to fool yourself here. An account's own
enforcement record never enters its own features (the adjacency has no
self-loops and two-hop walks that return to the account are removed), and
:func:`out_of_fold_label_features` computes the label features of training
accounts with their fold's labels hidden.
"""

from __future__ import annotations

import dataclasses
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import effective_n_jobs

from ringfence.graph.build import AccountGraph
from ringfence.graph.cpus import thread_budget
from ringfence.graph.config import GraphConfig
from ringfence.graph.propagate import propagation_columns, propagation_columns_many
from ringfence.graph.memory import release_freed_memory

__all__ = ["account_features", "label_features", "out_of_fold_label_features",
           "hide_labels", "neighbour_aggregates", "MAX_CATEGORIES", "FEATURE_DTYPE", "RATE_PRIOR",
           "RESIDUE"]

MAX_CATEGORIES = 50  # above this a category column is frequency-encoded
# features are stored as float32: half the memory of float64 (0.3 GB per million accounts
# for the 83 columns of the synthetic platform), and tree splits need no more precision
FEATURE_DTYPE = np.float32


def _row_normalised(adj: sp.csr_matrix) -> sp.csr_matrix:
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return sp.diags(inv) @ adj


def _row_max(adj: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Max of ``values`` (one per node) over each row's neighbours; NaN where a row has none."""
    return _row_max_gathered(adj, values[adj.indices] if adj.nnz else values[:0])


def _row_max_gathered(adj: sp.csr_matrix, gathered: np.ndarray) -> np.ndarray:
    """:func:`_row_max` from the values already gathered per entry (``values[adj.indices]``):
    one gather serves the max and, negated, the min. Cost: O(nnz)."""
    out = np.full(adj.shape[0], np.nan)
    has = np.diff(adj.indptr) > 0
    if adj.nnz:
        starts = adj.indptr[:-1][has]  # consecutive starts of non-empty rows delimit their entries
        out[has] = np.maximum.reduceat(gathered, starts)
    return out


AGGREGATORS = ("mean", "max", "min")


def neighbour_aggregates(adj: sp.csr_matrix, values: np.ndarray, names: list[str],
                         aggregators: tuple[str, ...] = AGGREGATORS) -> pd.DataFrame:
    """Mean (link-weighted), max, min and standard deviation of ``values`` over 1 and 2 hops.

    ``aggregators`` picks among ``"mean"``, ``"max"``, ``"min"`` and ``"std"``
    (default mean, max, min: on the real reddit-banned validation split the
    standard deviation added noise, 0.116 -> 0.096 average precision).

    Two-hop aggregates are taken over the neighbours' one-hop aggregates
    (mean of means, max of maxes), which never needs the dense two-hop
    matrix. Missing values count as the column mean. Columns are
    ``nb_<agg><hops>_<name>`` as ``FEATURE_DTYPE``. Cost: O(nnz * f) time;
    the working memory is a few vectors, one input column at a time.
    """
    for agg in aggregators:
        if agg not in ("mean", "max", "min", "std"):
            raise ValueError(f"unknown aggregator {agg!r}; use mean, max, min or std")
    values = np.asarray(values, float)
    p = _row_normalised(adj)
    has = np.diff(adj.indptr) > 0
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        x = values[:, j]
        mean = np.nanmean(x) if len(x) and not np.isnan(x).all() else 0.0
        x = np.where(np.isnan(x), mean, x)
        cols: dict[tuple[str, int], np.ndarray] = {}
        mean1 = np.where(has, p @ x, np.nan)
        cols["mean", 1] = mean1
        cols["mean", 2] = np.where(has, p @ np.where(has, mean1, x), np.nan)
        if "std" in aggregators:
            sq1 = p @ (x ** 2)
            cols["std", 1] = np.where(has, np.sqrt(np.maximum(sq1 - np.nan_to_num(mean1) ** 2, 0)),
                                      np.nan)
        # the neighbours' values gathered once for the one-hop max and min (the gather, a
        # random read per entry, costs more than the reductions)
        gathered = x[adj.indices] if "max" in aggregators or "min" in aggregators else None
        if "max" in aggregators:
            max1 = _row_max_gathered(adj, gathered)
            cols["max", 1] = max1
            cols["max", 2] = _row_max(adj, np.where(has, max1, x))
        if "min" in aggregators:
            # the min as minus the max of the negated values, bit for bit as before: a min
            # reduction could return 0.0 where this returns -0.0, and explanations print it
            min1 = -_row_max_gathered(adj, np.negative(gathered, out=gathered))
            del gathered
            cols["min", 1] = min1
            cols["min", 2] = -_row_max(adj, -np.where(has, min1, x))
        for (agg, hops), arr in cols.items():
            out[f"nb_{agg}{hops}_{name}"] = arr.astype(FEATURE_DTYPE)
    order = [f"nb_{agg}{hops}_{name}" for agg in aggregators for hops in (1, 2)
             for name in names if f"nb_{agg}{hops}_{name}" in out]
    return pd.DataFrame({k: out[k] for k in order}, index=pd.RangeIndex(adj.shape[0]), copy=False)


def _attributes(accounts: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.DataFrame, list[str]]:
    """Own attributes: numbers as they are, categories as categoricals (or frequencies)."""
    out = pd.DataFrame(index=range(len(accounts)))
    numeric: list[str] = []
    for col in accounts.columns:
        if col == "account_id":
            continue
        s = accounts[col].reset_index(drop=True)
        if col == "created_at":
            out["account_age_days"] = (as_of - s).dt.total_seconds().to_numpy() / 86400.0
            numeric.append("account_age_days")
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[f"attr_{col}"] = s.astype(float).to_numpy()
            numeric.append(f"attr_{col}")
        else:
            s = s.astype("category")
            if len(s.cat.categories) <= MAX_CATEGORIES:
                out[f"attr_{col}"] = s
            else:
                freq = s.map(s.value_counts(normalize=True)).astype(float)
                out[f"attr_{col}_freq"] = freq.to_numpy()
                numeric.append(f"attr_{col}_freq")
    return out, numeric


def account_features(graph: AccountGraph, accounts: pd.DataFrame, identity: np.ndarray,
                     membership: np.ndarray, *, aggregate: bool = True) -> pd.DataFrame:
    """Label-free features, one row per account (row = node).

    Parameters
    ----------
    graph
        The account graph.
    accounts
        The validated ``accounts`` table (same row order as the graph).
    identity, membership
        Identity and cluster id per node (-1 for none).
    aggregate
        Add 1- and 2-hop neighbourhood aggregates of the numeric attributes.

    Returns
    -------
    pandas.DataFrame
        Columns prefixed ``attr_`` (own attributes), ``account_age_days``,
        ``n_ident_<kind>``, ``shared_<kind>`` (other accounts reached through
        identifiers of that kind), ``n_edges_<kind>``, ``degree``,
        ``neighbours``, ``hub_exposure``, ``identity_size``, ``cluster_size``,
        ``nb_<agg><hops>_<attr>``.
    """
    n = graph.n_accounts
    feats, numeric = _attributes(accounts, graph.as_of)
    uses = graph.uses
    ua = uses["account"].to_numpy()
    ui = uses["identifier"].to_numpy()
    ident = graph.identifiers
    n_acc = ident["n_accounts"].to_numpy()
    kind = ident["kind"].cat.codes.to_numpy() if len(ident) else np.array([], int)
    for k, name in enumerate(graph.kind_names):
        m = kind[ui] == k
        feats[f"n_ident_{name}"] = np.bincount(ua[m], minlength=n)
        feats[f"shared_{name}"] = np.bincount(ua[m], weights=n_acc[ui[m]] - 1, minlength=n)
    hub = np.zeros(n)
    if len(ua):
        np.maximum.at(hub, ua, n_acc[ui].astype(float))
    feats["hub_exposure"] = np.log1p(hub)
    e = graph.links_by_edge
    if len(e):
        for k, name in enumerate(graph.edge_kind_names):
            m = (e["kinds"].to_numpy() >> k) & 1 == 1
            cnt = np.where(m, e["n_edges"].to_numpy(), 0)
            feats[f"n_edges_{name}"] = (np.bincount(e["a"].to_numpy(), weights=cnt, minlength=n)
                                        + np.bincount(e["b"].to_numpy(), weights=cnt, minlength=n))
    adj = graph.adjacency
    feats["degree"] = np.asarray(adj.sum(axis=1)).ravel()
    feats["neighbours"] = np.diff(adj.indptr)
    isz = np.bincount(identity[identity >= 0], minlength=1)
    feats["identity_size"] = np.where(identity >= 0, isz[np.maximum(identity, 0)], 1)
    csz = np.bincount(membership[membership >= 0], minlength=1)
    feats["cluster_size"] = np.where(membership >= 0, csz[np.maximum(membership, 0)], 1)
    if aggregate and numeric:
        agg = neighbour_aggregates(adj, feats[numeric].to_numpy(float), numeric)
    # categories stay categorical; every number is stored as FEATURE_DTYPE
    feats = feats.astype({c: FEATURE_DTYPE for c in feats.columns
                          if not isinstance(feats[c].dtype, pd.CategoricalDtype)})
    return pd.concat([feats, agg], axis=1) if aggregate and numeric else feats


# the status columns that label_features and propagation read
LABEL_COLUMNS = ("banned", "cleared", "violations", "seed_weight")


def hide_labels(graph: AccountGraph, hidden: np.ndarray,
                columns: tuple[str, ...] | None = None) -> AccountGraph:
    """A copy of ``graph`` whose enforcement status is erased for ``hidden`` nodes.

    ``columns``: keep only these status columns in the copy (the label passes
    keep ``LABEL_COLUMNS``: the other columns cost 0.7 GB at 10,000,000 accounts).
    """
    st = (graph.status[list(columns)] if columns is not None else graph.status).copy()
    erased = {"banned": False, "cleared": False, "violations": 0, "seed_weight": 0.0,
              "ban_at": pd.NaT}
    for col, value in erased.items():
        if col in st.columns:
            st.loc[hidden, col] = value
    return dataclasses.replace(graph, status=st)


class _Columns(dict):
    """Feature columns, each stored as ``FEATURE_DTYPE`` as soon as it is made."""

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        super().__setitem__(key, np.asarray(value, dtype=FEATURE_DTYPE))

    def frame(self) -> pd.DataFrame:
        # no consolidating copy: at 10,000,000 accounts it would double the columns' 0.8 GB
        return pd.DataFrame(self, copy=False)


def _group_sum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per node: sum of ``values`` over the node's group (0 for group -1)."""
    out = np.zeros(len(groups))
    m = groups >= 0
    if m.any():
        sums = np.bincount(groups[m], weights=values[m])
        out[m] = sums[groups[m]]
    return out


def _row_max_product(m: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Per row ``i``: ``max(0, max_j m[i, j] * x[j])`` over the stored entries."""
    out = np.zeros(m.shape[0])
    starts = m.indptr[:-1][np.diff(m.indptr) > 0]
    if len(starts):
        # consecutive starts of non-empty rows delimit exactly those rows' entries
        out[np.diff(m.indptr) > 0] = np.maximum.reduceat(m.data * x[m.indices], starts)
    return np.maximum(out, 0.0)


class _GraphOps:
    """Label-independent matrices of a graph, computed once and shared by every fold."""

    def __init__(self, adj: sp.csr_matrix, link_threshold: float):
        self.p = _row_normalised(adj)
        self.deg = np.asarray(adj.sum(axis=1)).ravel()
        # probability of returning to self in two steps: subtracted so self never counts
        self.back = np.asarray(self.p.multiply(self.p.T).sum(axis=1)).ravel()
        # the same for a step of P then a step of link weight (neighbours' counts, averaged)
        self.back_weight = np.asarray(self.p.multiply(adj.T).sum(axis=1)).ravel()
        self.strong = adj.multiply(adj >= link_threshold).tocsr() if adj.nnz else adj


# weight of the prior in the smoothed banned rate among reviewed neighbours: two reviewed
# neighbours' worth of the base rate, so one banned neighbour out of one is not "100 %"
RATE_PRIOR = 2.0


# two-hop sums minus the walks that return to the account cancel to residues of about 1e-16
# whose sign and size depend on the order of summation; the model splits between 0 and
# them, so the Spark engine (another order) moved scores by 1e-4 until both made them 0.
# A real two-hop quantity is a product of two link shares, far above this
RESIDUE = 1e-12


def _zero_residue(x: np.ndarray) -> np.ndarray:
    """``x`` with the values within :data:`RESIDUE` of 0 set to 0."""
    return np.where(np.abs(x) < RESIDUE, 0.0, x)


def _smoothed_rate(banned: np.ndarray, cleared: np.ndarray, base: float) -> np.ndarray:
    """(banned + prior * base) / (banned + cleared + prior): a Beta-smoothed banned rate."""
    return (banned + RATE_PRIOR * base) / (np.maximum(banned + cleared, 0) + RATE_PRIOR)


def label_features(graph: AccountGraph, identity: np.ndarray, membership: np.ndarray,
                   config: GraphConfig | None = None, ops: _GraphOps | None = None,
                   propagation: pd.DataFrame | None = None,
                   rows: np.ndarray | None = None) -> pd.DataFrame:
    """Enforcement-derived features, one row per account, from ``graph.status``.

    ``propagation`` is ``propagate_blacklist(graph, config)`` (or the columns of
    ``propagation_columns``) when the caller has it already (the flag job does); it is
    computed otherwise.

    ``rows``: only these nodes' rows, in this order (a frame of ``len(rows)`` rows, each
    equal to its row of the whole frame): a label pass keeps its fold's rows alone, and
    the one-hop sums and the outer step of the two-hop sums then read those rows of the
    matrices only.

    ``banned_rate<h>`` is the banned share among the reviewed (banned or
    cleared) accounts at ``h`` hops, Beta-smoothed towards the visible base
    rate with :data:`RATE_PRIOR` accounts' weight; ``reviewed_share1`` the
    share of link weight to reviewed neighbours.

    No feature of an account reads that account's own status: neighbour sums
    use the adjacency (no self-loops), two-hop sums subtract the walks that
    return to the account, and identity/cluster counts exclude the account.
    Cost: one propagation plus O(nnz) sparse products (with ``rows``: two full
    products, the others over the rows' entries).
    """
    config = config or graph.config
    st = graph.status
    b = st["banned"].to_numpy(float)
    c = st["cleared"].to_numpy(float)
    v = st["violations"].to_numpy(float)
    s = st["seed_weight"].to_numpy(float)
    adj = graph.adjacency
    ops = ops or _GraphOps(adj, config.link_threshold)
    p, deg, back, strong = ops.p, ops.deg, ops.back, ops.strong
    if rows is None:
        pick, a_rows, p_rows, strong_rows = (lambda x: x), adj, p, strong
    else:
        # a CSR row slice keeps each row's entries in order: the same sums, row by row
        pick, a_rows, p_rows, strong_rows = (lambda x: x[rows]), adj[rows], p[rows], strong[rows]
    deg_r = pick(deg)
    out = _Columns()
    # the one-hop sums of banned and cleared serve the rates below too (the same products)
    b1, c1 = adj @ b, adj @ c
    for name, x in (("banned", b), ("cleared", c), ("violations", v), ("ban_weight", s)):
        w1 = pick(b1) if name == "banned" else pick(c1) if name == "cleared" else a_rows @ x
        out[f"{name}_nb1"] = w1
        out[f"{name}_share1"] = np.divide(w1, deg_r, out=np.zeros_like(w1), where=deg_r > 0)
        out[f"{name}_share2"] = _zero_residue(p_rows @ (p @ x) - pick(back) * pick(x))
    # the banned rate among reviewed neighbours: the shares above divide by all links, and
    # most neighbours are never reviewed, so they mix "banned" with "looked at"
    base = b.sum() / max(b.sum() + c.sum(), 1.0)
    b1r, c1r = pick(b1), pick(c1)
    out["banned_rate1"] = _smoothed_rate(b1r, c1r, base)
    out["banned_rate2"] = _smoothed_rate(
        _zero_residue(p_rows @ b1 - pick(ops.back_weight) * pick(b)),
        _zero_residue(p_rows @ c1 - pick(ops.back_weight) * pick(c)), base)
    out["reviewed_share1"] = np.divide(b1r + c1r, deg_r, out=np.zeros_like(b1r),
                                       where=deg_r > 0)
    out["max_link_to_banned"] = _row_max_product(strong_rows, b)
    ident, member = pick(identity), pick(membership)
    out["banned_in_identity"] = pick(_group_sum(identity, b)) - np.where(ident >= 0, pick(b), 0)
    out["cleared_in_identity"] = pick(_group_sum(identity, c)) - np.where(ident >= 0, pick(c), 0)
    csz = pick(_group_sum(membership, np.ones(len(b))))
    cb = pick(_group_sum(membership, b)) - np.where(member >= 0, pick(b), 0)
    cv = pick(_group_sum(membership, v)) - np.where(member >= 0, pick(v), 0)
    out["banned_in_cluster"] = cb
    out["cluster_banned_share"] = np.divide(cb, csz - 1, out=np.zeros_like(cb), where=csz > 1)
    out["violations_in_cluster"] = cv
    k = len(deg_r)
    if b.any():
        if propagation is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prop, _ = propagation_columns(graph, config)  # the columns, without a frame of ids
        else:  # a frame (propagate_blacklist) or a dict of columns (propagation_columns)
            prop = {k: np.asarray(propagation[k]) for k in ("propagation_score",
                                                            "propagation_raw")}
        out["propagation"] = pick(prop["propagation_score"])
        out["propagation_raw_log"] = np.log10(pick(prop["propagation_raw"]) + 1e-12)
    else:
        out["propagation"] = np.zeros(k)
        out["propagation_raw_log"] = np.full(k, -12.0)
    return out.frame()


def _mask(n: int, nodes: np.ndarray) -> np.ndarray:
    out = np.zeros(n, bool)
    out[nodes] = True
    return out


# working memory of one label pass: measured 350 bytes per account at 1,000,000 accounts with
# the full status copied, 210 at 3,000,000 with four columns; rounded up for safety
PASS_BYTES_PER_ACCOUNT = 400


def _available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _passes_that_fit(n_accounts: int) -> int:
    """How many label passes may run at once: one, plus one more for every three passes'
    worth of memory still available (a second thread saves time, never worth running out)."""
    avail = _available_memory()
    if avail is None:
        return 1 << 30
    return 1 + int(avail // (3 * PASS_BYTES_PER_ACCOUNT * max(n_accounts, 1)))


def out_of_fold_label_features(graph: AccountGraph, identity: np.ndarray, membership: np.ndarray,
                               train_nodes: np.ndarray, fold: np.ndarray,
                               config: GraphConfig | None = None, *,
                               n_jobs: int = -1, propagation: pd.DataFrame | None = None
                               ) -> pd.DataFrame:
    """Label features where each training account's fold is hidden while its row is computed.

    Rows of ``train_nodes`` come from a graph with the labels of their own fold
    erased (``fold`` gives each training node's fold, 0..k-1); every other row
    is computed once with all labels. Cost: (k + 1) times :func:`label_features`,
    whose propagations run first as batched PageRanks
    (:func:`~ringfence.graph.propagate.propagation_columns_many`, one batch per thread),
    run on ``n_jobs`` threads (-1: one per available CPU, see
    :func:`ringfence.graph.cpus.thread_budget`; the sparse products release
    the GIL, so two cores finish in about 0.6 of the time), fewer when the
    memory available would not hold three times the extra passes (each needs
    about ``PASS_BYTES_PER_ACCOUNT`` bytes per account). The result does
    not depend on the number of threads. ``propagation``: ``propagate_blacklist(graph,
    config)`` if already computed, reused for the rows that see all labels.
    """
    config = config or graph.config
    ops = _GraphOps(graph.adjacency, config.link_threshold)
    train_nodes = np.asarray(train_nodes)
    folds = [train_nodes[fold == f] for f in np.unique(fold)]
    hidden_graphs = [hide_labels(graph, _mask(graph.n_accounts, nodes), LABEL_COLUMNS)
                     for nodes in folds]
    tasks = [(-1, None), *enumerate(folds)]
    # -1: the CPUs this process may use (affinity, CPU quota, --threads)
    threads = thread_budget() if n_jobs == -1 else effective_n_jobs(n_jobs)
    workers = max(1, min(threads, len(tasks), _passes_that_fit(graph.n_accounts)))

    # the passes' propagations as batched PageRanks, one batch per thread (the matrix read
    # once per iteration for a batch's runs, each still its own run, so the grouping changes
    # nothing); a pass without banned accounts has none
    passes = [None if propagation is not None else graph, *hidden_graphs]
    todo = [g for g in passes if g is not None and g.status["banned"].to_numpy(bool).any()]
    groups = [[todo[i] for i in part] for part in
              np.array_split(np.arange(len(todo)), min(workers, len(todo))) if len(part)]

    def batch(group: list[AccountGraph]) -> list[tuple[dict, dict]]:
        return propagation_columns_many(graph, [g.status for g in group], config)

    # here, not in the threads: catch_warnings restores global state, two threads would
    # interleave it. As label_features does: the job warns for its own propagation only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(groups) > 1:
            with ThreadPoolExecutor(len(groups)) as pool:
                columns = [c for cs in pool.map(batch, groups) for c in cs]
        else:
            columns = [c for group in groups for c in batch(group)]
    # only what label_features reads: the other columns would cost 0.4 GB per fold at
    # 10,000,000 accounts while the passes wait for them
    done = {id(g): {k: cols[k] for k in ("propagation_score", "propagation_raw")}
            for g, (cols, _) in zip(todo, columns)}
    del columns
    props = [propagation if g is None else done.pop(id(g), None) for g in passes]

    def one(task: tuple[int, np.ndarray | None]) -> pd.DataFrame | np.ndarray:
        f, hidden_nodes = task
        if hidden_nodes is None:
            return label_features(graph, identity, membership, config, ops, props[0])
        # only the fold's rows are kept, so only they are computed
        rows = label_features(hidden_graphs[f], identity, membership, config, ops,
                              props[f + 1], rows=hidden_nodes).to_numpy()
        hidden_graphs[f] = props[f + 1] = None  # the pass's inputs, freed with its garbage
        release_freed_memory()  # a pass's garbage is the next pass's room
        return rows

    if workers == 1:
        parts = [one(t) for t in tasks]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(one, tasks))
    full = parts[0]
    for nodes, rows in zip(folds, parts[1:]):
        full.iloc[nodes] = rows
    return full

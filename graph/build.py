"""The account graph: accounts, the identifiers they share and their edges, as
sparse matrices with hub-aware, recency-weighted weights.

Everything here is vectorised over numpy arrays; no Python loop runs over
rows, edges or identifiers (one short loop runs over the distinct sizes of
shared identifiers, at most ``max(share_limits)`` iterations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringfence.graph.canonical import content_order
from ringfence.graph.config import GraphConfig
from ringfence.graph.decisions import latest_decisive
from ringfence.graph.memory import release_freed_memory
from ringfence.graph.tables import Tables
from ringfence.graph.timestamps import parse_time

__all__ = ["AccountGraph", "build_graph", "account_status", "decay"]

_DAY = np.timedelta64(1, "D")


def _utc(times) -> pd.DatetimeIndex:
    """A UTC DatetimeIndex in nanoseconds from anything datetime-like (naive values are
    taken as UTC; pandas 3 keeps a column's own unit, and every integer time here is ns)."""
    t = pd.DatetimeIndex(times).as_unit("ns")
    return t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")


_NAT = np.iinfo(np.int64).min  # how numpy stores NaT in int64 nanoseconds


def _ns(times) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) as int64; missing times are ``_NAT``."""
    return _utc(times).asi8


def _from_ns(ns: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.DatetimeIndex(np.asarray(ns, np.int64).view("M8[ns]")).tz_localize("UTC").array


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start position of each run of equal values in a sorted array."""
    if not len(sorted_keys):
        return np.empty(0, np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _min_max(ns: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest time per run (missing times ignored; all missing -> missing)."""
    big = np.iinfo(np.int64).max
    lo = np.minimum.reduceat(np.where(ns == _NAT, big, ns), starts)
    lo[lo == big] = _NAT
    return lo, np.maximum.reduceat(ns, starts)  # _NAT is the smallest int64: max skips it


def _first_appearances(code: np.ndarray) -> np.ndarray:
    """Position of the first row of each code, for codes numbered in order of first appearance."""
    # such a code appears for the first time exactly where it exceeds every code before it
    return np.flatnonzero(code > np.maximum.accumulate(np.r_[-1, code[:-1]]))


def _identifier_codes(value_code: np.ndarray, kind_code: np.ndarray, n_kinds: int) -> np.ndarray:
    """Dense number per (kind, value) pair, in order of first appearance."""
    if len(value_code) and value_code.min() >= 0:
        first = _first_appearances(value_code)
        # the usual case, each value under one kind: the value codes already number the pairs
        if len(first) == value_code.max() + 1 and (kind_code[first][value_code] == kind_code).all():
            return value_code
    return pd.factorize(value_code * max(n_kinds, 1) + kind_code)[0].astype(np.int64)


def decay(times: pd.Series | np.ndarray, as_of: pd.Timestamp,
          half_life_days: float | None) -> np.ndarray:
    """``0.5 ** (age / half_life)`` per timestamp; 1 for missing times or no half-life.

    Ages below zero (events after ``as_of``) count as zero.
    """
    t = _utc(times)
    if half_life_days is None or len(t) == 0:
        return np.ones(len(t))
    age = (as_of - t).to_numpy() / _DAY
    age = np.where(np.isnan(age), 0.0, np.maximum(age, 0.0))
    return np.power(0.5, age / half_life_days)


@dataclass
class AccountGraph:
    """The weighted account graph built by :func:`build_graph`.

    Attributes
    ----------
    account_ids : numpy.ndarray
        Account id of each node; node ``i`` is row ``i`` of every matrix.
    index : pandas.Index
        ``account_id`` -> node number (``index.get_indexer(ids)``).
    identifiers : pandas.DataFrame
        One row per identifier (a ``(kind, value)`` pair), row number = its
        column in ``usage``: ``kind``, ``value``, ``n_accounts``, ``weight``
        (the kind's weight times the hub factor; 0 for hubs above the share
        limit). When an identifier was seen is per use, in ``uses``.
    uses : pandas.DataFrame
        One row per (account, identifier) pair: ``account``, ``identifier``
        (node and identifier numbers), ``count``, ``first_seen``,
        ``last_seen``, ``recency``.
    usage : scipy.sparse.csr_matrix
        Accounts x identifiers, the recency of each use (made from ``uses``
        when first read, then kept).
    pairs : pandas.DataFrame
        Account pairs (``a < b``) that share at least one linking identifier:
        ``weight`` (summed identifier weights), ``n_shared``, ``kinds``
        (bit mask over ``kind_names``), ``top_identifier`` (the strongest
        shared identifier).
    links_by_edge : pandas.DataFrame
        Account pairs (``a < b``) joined by ``edges``: ``weight`` (recency- and
        kind-weighted sum), ``n_edges``, ``kinds`` (bit mask over
        ``edge_kind_names``), ``amount``, ``last_at``.
    adjacency : scipy.sparse.csr_matrix
        Symmetric accounts x accounts weights: shared identifiers plus edges.
    status : pandas.DataFrame
        Per account (row = node): ``banned``, ``cleared``, ``lifted``,
        ``confirmed``, ``ban_at``, ``ban_reason``, ``violations``,
        ``last_violation_at``, ``seed_weight`` (see :func:`account_status`).
    as_of : pandas.Timestamp
        The time ages are measured from.
    """

    account_ids: np.ndarray
    index: pd.Index
    identifiers: pd.DataFrame
    uses: pd.DataFrame
    kind_names: list[str]
    pairs: pd.DataFrame
    links_by_edge: pd.DataFrame
    edge_kind_names: list[str]
    adjacency: sp.csr_matrix
    status: pd.DataFrame
    as_of: pd.Timestamp
    config: GraphConfig
    _usage: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def usage(self) -> sp.csr_matrix:
        # made on demand: the batch job never reads it (0.1 GB at 1,000,000 accounts)
        if self._usage is None:
            u = self.uses
            self._usage = sp.csr_matrix(
                (u["recency"].to_numpy(), (u["account"].to_numpy(), u["identifier"].to_numpy())),
                shape=(self.n_accounts, len(self.identifiers)))
        return self._usage

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    def nodes(self, account_ids) -> np.ndarray:
        """Node numbers of account ids; raises KeyError naming unknown ids."""
        ids = np.atleast_1d(np.asarray(account_ids, dtype=object))
        idx = self.index.get_indexer(ids)
        if (idx < 0).any():
            missing = ids[idx < 0][:5].tolist()
            raise KeyError(f"unknown account_id(s): {missing}")
        return idx

    def summary(self) -> dict[str, object]:
        ident = self.identifiers
        return {
            "accounts": self.n_accounts,
            "identifiers": len(ident),
            "shared_identifiers": int((ident["n_accounts"] >= 2).sum()),
            "hub_identifiers_suppressed": int(((ident["weight"] == 0)
                                               & (ident["n_accounts"] >= 2)).sum()),
            "sharing_pairs": len(self.pairs),
            "edge_pairs": len(self.links_by_edge),
            "banned": int(self.status["banned"].sum()),
            "cleared": int(self.status["cleared"].sum()),
            "as_of": self.as_of.isoformat(),
        }


def _pairs_within_groups(members: np.ndarray, group_start: np.ndarray,
                         group_size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All unordered pairs of positions inside each group, vectorised per group size.

    ``members`` is sorted by group; returns ``(pos_a, pos_b, group)`` as
    positions into ``members`` and the group number of each pair.
    """
    out_a, out_b, out_g = [], [], []
    for s in np.unique(group_size):
        if s < 2:
            continue
        groups = np.flatnonzero(group_size == s)
        iu, ju = np.triu_indices(int(s), 1)
        base = group_start[groups][:, None]
        out_a.append((base + iu).ravel())
        out_b.append((base + ju).ravel())
        out_g.append(np.repeat(groups, len(iu)))
    if not out_a:
        e = np.empty(0, np.int64)
        return e, e, e
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_g)


def _bitmask_by_key(keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """OR of ``1 << bits`` per unique key; ``keys`` sorted ascending."""
    masks = np.left_shift(np.int64(1), bits.astype(np.int64))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.bitwise_or.reduceat(masks, starts) if len(keys) else masks


def _aggregate_pairs(a: np.ndarray, b: np.ndarray, n: int, columns: dict[str, np.ndarray],
                     weight: np.ndarray, kind_bits: np.ndarray,
                     sums: dict[str, np.ndarray] | None = None,
                     latest: dict[str, np.ndarray] | None = None,
                     cap: float | None = None,
                     ties: tuple[np.ndarray, ...] = ()) -> pd.DataFrame:
    """Sum weights per unordered pair; keep count, kinds mask and the arg-max row.

    With ``cap``, a pair's weight is at most ``cap`` times its strongest
    row's. ``sums`` are summed per pair too; ``latest`` (int64 nanoseconds)
    keep their maximum. ``ties`` (first decides) order a pair's equally
    strong rows, so that neither the arg-max row nor the order of the sums
    depends on the order of the input rows.
    """
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo.astype(np.int64) * n + hi
    # within a pair, the strongest contribution first
    order = np.lexsort(tuple(reversed(ties)) + (-weight, key))
    key, weight, kind_bits = key[order], weight[order], kind_bits[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.empty(0, int)
    counts = np.diff(np.r_[first, len(key)])
    total = np.add.reduceat(weight, first) if len(key) else weight
    if cap is not None and len(key):
        total = np.minimum(total, cap * weight[first])
    out = pd.DataFrame({
        "a": (key[first] // n).astype(np.int64),
        "b": (key[first] % n).astype(np.int64),
        "weight": total,
        "count": counts,
        "kinds": _bitmask_by_key(key, kind_bits),
    })
    for name, values in columns.items():
        out[name] = values[order][first]
    for name, values in (sums or {}).items():
        out[name] = np.add.reduceat(values[order], first) if len(key) else values
    for name, ns in (latest or {}).items():
        out[name] = _from_ns(np.maximum.reduceat(ns[order], first) if len(key) else ns)
    return out


def account_status(tables: Tables, index: pd.Index, as_of: pd.Timestamp,
                   config: GraphConfig) -> pd.DataFrame:
    """Per account: ban, clearance, lifted ban and confirmation in force, violations,
    and seed weight.

    The latest of an account's ``ban``, ``cleared`` and ``lifted`` actions
    (enforcement rows at or before ``as_of``) and its logged decisions
    (``tables.decisions``, all of them) is in force; the rules, undated rows
    included, are :func:`~ringfence.graph.decisions.latest_decisive`'s.
    ``banned`` (a seed, a positive label) holds for a ban or a confirmation,
    ``cleared`` (blocks propagation, a negative label) for a clearance;
    ``lifted`` marks a ban that ended (neither). A seed's weight is
    ``(1 + violation_boost * log1p(violations))`` times the decay of its ban
    (a confirmation counts as a ban at its time) with ``ban_half_life_days``.
    """
    n = len(index)
    status = pd.DataFrame({
        "banned": np.zeros(n, bool), "cleared": np.zeros(n, bool),
        "lifted": np.zeros(n, bool), "confirmed": np.zeros(n, bool),
        "ban_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
        "ban_reason": np.full(n, "", dtype=object),
        "violations": np.zeros(n, np.int64),
        "last_violation_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
        "seed_weight": np.zeros(n),
    })
    enf = tables.enforcement
    log = tables.decisions
    if (enf is None or len(enf) == 0) and (log is None or len(log) == 0):
        return status
    if enf is not None and len(enf):
        node = tables.account_positions("enforcement")
        at = enf["at"] if "at" in enf.columns else pd.Series(pd.NaT, index=enf.index,
                                                             dtype="datetime64[ns, UTC]")
        action = enf["action"].astype(str).to_numpy()
        reason = enf["reason"].astype(str).to_numpy() if "reason" in enf.columns else \
            np.full(len(enf), "", dtype=object)
        frame = pd.DataFrame({"node": node, "action": action, "at": _utc(at), "reason": reason})
        frame = frame[frame["at"].isna() | (frame["at"] <= as_of)]
    else:
        frame = pd.DataFrame({"node": np.array([], np.int64), "action": np.array([], object),
                              "at": pd.Series([], dtype="datetime64[ns, UTC]"),
                              "reason": np.array([], object)})

    viol = frame[frame["action"] == "violation"]
    vc = viol.groupby("node").agg(n=("action", "size"), last=("at", "max"))
    status.loc[vc.index, "violations"] = vc["n"].to_numpy()
    status.loc[vc.index, "last_violation_at"] = vc["last"].array

    logged = None
    if log is not None and len(log):
        logged = log.assign(node=tables.account_positions("decisions"))
    latest = latest_decisive(frame, logged)
    act = latest["action"].to_numpy()
    for action, column in (("ban", "banned"), ("confirmed", "banned"), ("confirmed", "confirmed"),
                           ("cleared", "cleared"), ("lifted", "lifted")):
        status.loc[latest["node"].to_numpy()[act == action], column] = True
    seed = latest[(act == "ban") | (act == "confirmed")]
    status.loc[seed["node"].to_numpy(), "ban_at"] = seed["at"].array
    # a reviewer's free text stays in the log, out of the evidence cited for other accounts
    status.loc[seed["node"].to_numpy(), "ban_reason"] = np.where(
        seed["action"].to_numpy() == "confirmed", "", seed["reason"].to_numpy(object))

    banned = status["banned"].to_numpy()
    w = (1.0 + config.violation_boost * np.log1p(status["violations"].to_numpy()))
    w = w * decay(status["ban_at"], as_of, config.ban_half_life_days)
    status["seed_weight"] = np.where(banned, w, 0.0)
    return status


def build_graph(tables: Tables, config: GraphConfig | None = None,
                as_of: str | float | pd.Timestamp | None = None, *,
                release_inputs: bool = False) -> AccountGraph:
    """Build the weighted account graph from validated tables.

    Each identifier gets ``kind_weight * min(1, (hub_free_size / n) ** hub_exponent)``
    where ``n`` is the number of accounts using it, or 0 when ``n`` exceeds its
    kind's share limit (it then links nobody). Two accounts sharing it get
    that weight times ``sqrt(recency_a * recency_b)``, the recencies of their
    latest uses. Edges add ``weight * edge_kind_weight * recency``, summed per
    pair of accounts up to ``edge_repeat_cap`` times the pair's strongest edge,
    so that repeating an edge cannot drown an account's other links.

    Parameters
    ----------
    tables
        From :func:`graph.load_tables`.
    config
        Weights, limits and half-lives; defaults to ``GraphConfig()``.
    as_of
        Ages are measured from here: a time read by
        :func:`~ringfence.graph.timestamps.parse_time` (ISO 8601, Unix seconds
        or milliseconds, a Timestamp); default :meth:`Tables.newest_timestamp`.
    release_inputs
        Drop ``tables.identifiers`` and ``tables.edges`` (see
        :meth:`Tables.drop`) as soon as they have been read, so that their
        memory serves the rest of the build (0.6 GB at 1,000,000 accounts).
        For batch jobs; the graph holds everything later stages need.

    Returns
    -------
    AccountGraph

    Notes
    -----
    Cost: O(U log U + P log P) for U identifier observations and P sharing
    pairs; P is bounded by the share limits (at most ``limit**2 / 2`` pairs per
    identifier).

    Examples
    --------
    >>> from ringfence.graph.tables import example_tables
    >>> g = build_graph(example_tables())  # a and b share a device
    >>> g.pairs[["a", "b", "weight"]].values.tolist()
    [[0.0, 1.0, 1.0]]
    """
    config = config or GraphConfig()
    accounts = tables.accounts
    account_ids = accounts["account_id"].to_numpy(dtype=object)
    index = pd.Index(account_ids)
    n = len(index)
    if as_of is None:
        as_of = tables.newest_timestamp()
        if as_of is None:
            as_of = pd.Timestamp("1970-01-01", tz="UTC")
    else:
        as_of = parse_time(as_of)

    # ---- identifiers and their use
    idf = tables.identifiers
    if idf is not None and len(idf):
        kind_cat = idf["kind"].astype("category")
        kind_names = [str(k) for k in kind_cat.cat.categories]
        kc = kind_cat.cat.codes.to_numpy().astype(np.int64)
        ident_code = _identifier_codes(tables.value_codes("identifiers", "value"), kc,
                                       len(kind_names))
        # renumbered by content: the first-appearance numbers depend on row order
        first_obs = _first_appearances(ident_code)
        # the distinct values taken once (a copy of their strings), for the content order
        # and, reordered by it, for the identifiers table
        first_values = idf["value"].array.take(first_obs)
        by_content = content_order(kc[first_obs], first_values)
        first_obs = first_obs[by_content]
        first_values = first_values.take(by_content)
        renumber = np.empty(len(by_content), np.int64)
        renumber[by_content] = np.arange(len(by_content))
        ident_code = renumber[ident_code]
        del renumber, by_content
        acc = tables.account_positions("identifiers")
        seen = _ns(idf["seen_at"]) if "seen_at" in idf.columns else np.full(len(idf), _NAT)
        # one use per (identifier, account): sort the observations by that key once
        key = ident_code * n + acc
        order = np.argsort(key)
        key = key[order]
        starts = _run_starts(key)
        first_ns, last_ns = _min_max(seen[order], starts)
        ukey = key[starts]
        n_uses = np.diff(np.r_[starts, len(key)])
        # per-observation arrays (8.5 million rows at 1,000,000 accounts) are done with
        del key, order, seen, starts, ident_code, acc
        ident = pd.DataFrame({
            "kind": pd.Categorical.from_codes(kc[first_obs], categories=kind_names),
            "value": first_values,
        })
        del kc, first_obs, idf, first_values
        if release_inputs:
            tables.drop("identifiers")
            release_freed_memory()
        # node and identifier numbers fit int32 up to 2**31 (arithmetic on them widens first)
        uses = pd.DataFrame({"account": (ukey % n).astype(np.int32),
                             "identifier": (ukey // n).astype(np.int32),
                             "count": n_uses.astype(np.int32),
                             "first_seen": _from_ns(first_ns), "last_seen": _from_ns(last_ns)})
        del ukey, n_uses, first_ns, last_ns
        by_ident = _run_starts(uses["identifier"].to_numpy())  # every identifier has a use
        ident["n_accounts"] = np.diff(np.r_[by_ident, len(uses)]).astype(np.int32)
    else:
        kind_names = []
        ident = pd.DataFrame({"kind": pd.Categorical([]), "value": np.array([], dtype=object),
                              "n_accounts": np.array([], np.int32)})
        uses = pd.DataFrame({"account": np.array([], np.int32),
                             "identifier": np.array([], np.int32),
                             "count": np.array([], np.int32),
                             "first_seen": pd.Series([], dtype="datetime64[ns, UTC]"),
                             "last_seen": pd.Series([], dtype="datetime64[ns, UTC]")})
    kind_code = ident["kind"].cat.codes.to_numpy() if len(ident) else np.array([], np.int8)
    kw = np.array([config.kind_weight(k) for k in kind_names])
    limits = np.array([config.share_limit(k) for k in kind_names])
    n_acc = ident["n_accounts"].to_numpy()
    kind_w = kw[kind_code] if len(kind_names) else np.array([])
    hub = np.minimum(1.0, (config.hub_free_size / np.maximum(n_acc, 1)) ** config.hub_exponent)
    over = n_acc > (limits[kind_code] if len(kind_names) else n_acc)
    ident["weight"] = np.where(over, 0.0, kind_w * hub)
    uses["recency"] = decay(uses["last_seen"], as_of, config.identifier_half_life_days)


    # ---- pairs of accounts sharing linking identifiers
    w_ident = ident["weight"].to_numpy()
    linking = (w_ident > 0) & (n_acc >= 2)
    keep = linking[uses["identifier"].to_numpy()] if len(uses) else np.zeros(0, bool)
    # three columns, not a copy of the whole table (times included)
    u_ident = uses["identifier"].to_numpy()[keep]
    u_acc = uses["account"].to_numpy()[keep]
    u_rec = uses["recency"].to_numpy()[keep]
    order = np.argsort(u_ident, kind="stable")
    u_ident, u_acc, u_rec = u_ident[order], u_acc[order], u_rec[order]
    starts = np.flatnonzero(np.r_[True, u_ident[1:] != u_ident[:-1]]) if len(u_ident) \
        else np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(u_ident)])
    pa, pb, pg = _pairs_within_groups(u_acc, starts, sizes)
    p_ident = u_ident[starts][pg] if len(pg) else np.empty(0, np.int64)
    contrib = w_ident[p_ident] * np.sqrt(u_rec[pa] * u_rec[pb]) if len(pa) else np.empty(0)
    pairs = _aggregate_pairs(u_acc[pa] if len(pa) else pa, u_acc[pb] if len(pb) else pb, n,
                             {"top_identifier": p_ident}, contrib,
                             kind_code[p_ident] if len(p_ident) else p_ident)
    pairs = pairs.rename(columns={"count": "n_shared"})

    # ---- direct edges
    edf = tables.edges
    if edf is not None and len(edf):
        ekind = edf["kind"].astype("category")
        edge_kind_names = [str(k) for k in ekind.cat.categories]
        ew = np.array([config.edge_weight(k) for k in edge_kind_names])[ekind.cat.codes.to_numpy()]
        at = edf["at"] if "at" in edf.columns else pd.Series(pd.NaT, index=edf.index,
                                                             dtype="datetime64[ns, UTC]")
        w = edf["weight"].to_numpy(float) * ew * decay(at, as_of, config.edge_half_life_days)
        amount = edf["amount"].to_numpy(float) if "amount" in edf.columns else np.zeros(len(edf))
        ea = tables.account_positions("edges", "src")
        eb = tables.account_positions("edges", "dst")
        links_by_edge = _aggregate_pairs(
            ea, eb, n, {"top_kind": ekind.cat.codes.to_numpy()}, w,
            ekind.cat.codes.to_numpy(), sums={"amount": np.nan_to_num(amount)},
            latest={"last_at": _ns(at)}, cap=config.edge_repeat_cap,
            ties=(ekind.cat.codes.to_numpy(), np.nan_to_num(amount), _ns(at)))
        links_by_edge = links_by_edge.rename(columns={"count": "n_edges"})
        links_by_edge = links_by_edge[links_by_edge["weight"] > 0].reset_index(drop=True)
        edge_times = (ea, eb, _ns(at)) if "at" in edf.columns else None
        del edf, ekind, ew, at, w, amount
        if release_inputs:
            tables.drop("edges")
            release_freed_memory()
    else:
        edge_times = None
        edge_kind_names = []
        links_by_edge = pd.DataFrame({"a": np.array([], np.int64), "b": np.array([], np.int64),
                                      "weight": np.array([]), "n_edges": np.array([], np.int64),
                                      "kinds": np.array([], np.int64),
                                      "top_kind": np.array([], np.int64),
                                      "amount": np.array([]),
                                      "last_at": pd.Series([], dtype="datetime64[ns, UTC]")})

    adjacency = _symmetric(n, [pairs, links_by_edge])
    status = account_status(tables, index, as_of, config)
    first, last = _activity_span(tables, index, uses, edge_times)
    status["first_activity"], status["last_activity"] = first, last
    return AccountGraph(account_ids=account_ids, index=index, identifiers=ident, uses=uses,
                        kind_names=kind_names, pairs=pairs,
                        links_by_edge=links_by_edge, edge_kind_names=edge_kind_names,
                        adjacency=adjacency, status=status, as_of=as_of, config=config)


def _activity_span(tables: Tables, index: pd.Index, uses: pd.DataFrame,
                   edge_times: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                   ) -> tuple[pd.Series, pd.Series]:
    """First and last timestamp of anything an account did (opened, used, sent, was actioned)."""
    n = len(index)
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, _NAT)

    def add(nodes: np.ndarray, ns: np.ndarray) -> None:
        ok = ns != _NAT
        np.minimum.at(lo, nodes[ok], ns[ok])
        np.maximum.at(hi, nodes[ok], ns[ok])

    acc = tables.accounts
    if "created_at" in acc.columns:
        add(np.arange(n), _ns(acc["created_at"]))
    u = uses["account"].to_numpy()
    add(u, _ns(uses["first_seen"]))
    add(u, _ns(uses["last_seen"]))
    if edge_times is not None:  # (src nodes, dst nodes, times) of the edges
        src, dst, at = edge_times
        add(src, at)
        add(dst, at)
    enf = tables.enforcement
    if enf is not None and "at" in enf.columns:
        add(tables.account_positions("enforcement"), _ns(enf["at"]))
    lo[lo == np.iinfo(np.int64).max] = _NAT
    return _from_ns(lo), _from_ns(hi)


def _symmetric(n: int, frames: list[pd.DataFrame]) -> sp.csr_matrix:
    a = np.concatenate([f["a"].to_numpy() for f in frames])
    b = np.concatenate([f["b"].to_numpy() for f in frames])
    w = np.concatenate([f["weight"].to_numpy(float) for f in frames])
    m = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    m.sum_duplicates()
    return m

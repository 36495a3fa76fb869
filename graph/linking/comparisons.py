"""Candidate pairs of accounts and how they compare, kind by kind: the comparison vectors.

A pair is a candidate when the two accounts share a canonical identifier value
(:mod:`.normalise`) used by at most its kind's share limit of accounts, share a
partial key (an email local part, an IP network), or a reviewer decided about
them. Each comparison gives every candidate pair one level (an integer; the
names are in :attr:`Comparisons.level_names`), higher meaning stronger agreement:

- ``0`` null: one of the two has no value of that kind (no evidence either way);
- ``1`` different: both have values of the kind and none agree at any level;
- ``2`` partial (emails, IPs): the same local part / network, not the same value;
- then exact agreement by hub band, from the most shared values to values
  shared by exactly two accounts (the rarest shared value of the pair counts).

Timing: ``after_ban`` when one account was first active within
``after_ban_days`` after the other's ban, ``other`` when one of them is
banned but that is not so, null when neither is banned.

Everything is vectorised: one sort per key type, one loop over the distinct
group sizes (:func:`ringfence.graph.build._pairs_within_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph.build import AccountGraph, _pairs_within_groups
from ringfence.graph.linking.normalise import codes, emails_arrow, networks_arrow, phones_arrow

__all__ = ["Comparisons", "compare_pairs", "comparison_kinds", "band_names"]

_NS_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


def band_names(bands: list[int], limit: int) -> list[str]:
    """Names of the exact-agreement levels, most shared first.

    >>> band_names([2, 3, 5], 20)
    ['exact, shared by 6-20', 'exact, shared by 4-5', 'exact, shared by 3', 'exact, shared by 2']
    """
    edges = [b for b in sorted(bands) if b < limit] + [limit]
    names, lo = [], 2
    for hi in edges:
        names.append(f"exact, shared by {lo}" if hi == lo else f"exact, shared by {lo}-{hi}")
        lo = hi + 1
    return names[::-1]


@dataclass
class Comparisons:
    """Candidate pairs and their comparison levels (the input of the likelihood model).

    Attributes
    ----------
    a, b : numpy.ndarray
        Node numbers, ``a < b``, sorted by ``(a, b)``.
    levels : numpy.ndarray
        ``(pairs, comparisons)`` int8: the level of each comparison.
    names : list of str
        Comparison names (columns of ``levels``).
    level_names : list of list of str
        Level names per comparison, by level number.
    shared_by : numpy.ndarray
        ``(pairs, comparisons)`` int32: at an exact level, how many accounts
        use the rarest agreeing value (for the term-frequency adjustment); 0
        otherwise.
    """

    a: np.ndarray
    b: np.ndarray
    levels: np.ndarray
    names: list[str]
    level_names: list[list[str]]
    shared_by: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def _normalised(values: pa.Array, spec: dict, region: str | None
                ) -> tuple[pa.Array | None, pa.Array | None]:
    """The canonical values of one kind's identifiers (None: no normaliser, each value is
    its own) and their partial keys (None: no partial level; null: no key)."""
    how = spec.get("normalise")
    partial = None
    if how == "email":
        values, local = emails_arrow(values)
        if spec.get("partial") == "email_local":
            partial = local
    elif how == "phone":
        values = phones_arrow(values, region)
    if spec.get("partial") == "ip_network":
        partial = networks_arrow(values)
    return (values if how else None), partial


def _canonical(values: pa.Array, spec: dict, region: str | None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of the canonical values of one kind (distinct identifiers) and of their partial
    keys (None: no partial level; -1: no key), in order of first appearance."""
    canon, partial = _normalised(values, spec, region)
    # identifiers are distinct (kind, value) pairs: without a normaliser, each is its own code
    return (codes(canon) if canon is not None else np.arange(len(values), dtype=np.int64),
            codes(partial) if partial is not None else None)


def _lookup(keys: np.ndarray, table_keys: np.ndarray, values: np.ndarray,
            empty: float = 0.0) -> np.ndarray:
    """``values`` at ``keys`` in the sorted ``table_keys``; ``empty`` where absent."""
    if not len(table_keys):
        return np.full(len(keys), empty, float)
    pos = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
    return np.where(table_keys[pos] == keys, values[pos], empty).astype(float)


def _group_pairs(acc: np.ndarray, key: np.ndarray, n: int, presorted: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``lo < hi`` of distinct accounts under each key: ``(lo, hi, key)``.

    ``acc``/``key`` are deduplicated uses; ``presorted``: already sorted by
    ``(key, acc)`` (as :func:`_unique_uses` returns them).
    """
    if not presorted:
        # one sort of an int64 code: several times faster than a lexsort of the two arrays
        both = np.sort(key.astype(np.int64) * n + acc)
        acc, key = both % n, both // n
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else \
        np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(key)])
    pa_, pb_, pg = _pairs_within_groups(acc, starts, sizes)
    # accounts ascend within a key, and pairs are of earlier with later positions: lo < hi
    return acc[pa_], acc[pb_], key[starts][pg] if len(pg) else pg


def _unique_uses(acc: np.ndarray, code: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a sort and a neighbour comparison: faster than numpy's hash-based unique here
    key = np.sort(code.astype(np.int64) * n + acc)
    if len(key):
        key = key[np.r_[True, key[1:] != key[:-1]]]
    return (key % n).astype(np.int64), (key // n).astype(np.int64)


def comparison_kinds(settings: dict, kind_names: list[str]) -> tuple[list[str], list[str]]:
    """The comparisons' names and identifier kinds, in the order of the levels' columns:
    the configured ones, then (with ``other_kinds``) one exact comparison per other kind
    of the graph, named for it.

    >>> comparison_kinds({"comparisons": [{"name": "mail", "kind": "email"}]},
    ...                  ["device", "email"])
    (['mail', 'device'], ['email', 'device'])
    """
    names = [c["name"] for c in settings["comparisons"]]
    kinds = [c["kind"] for c in settings["comparisons"]]
    if settings.get("other_kinds", True):
        for k in kind_names:
            if k not in kinds:
                names.append(k)
                kinds.append(k)
    return names, kinds


def compare_pairs(graph: AccountGraph, settings: dict,
                  extra_pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Comparisons:
    """Candidate pairs of ``graph`` and their comparison levels.

    Parameters
    ----------
    graph
        From :func:`ringfence.graph.build.build_graph` (its ``uses`` and
        ``identifiers``; its weights are not used).
    settings
        The linker's settings (:data:`ringfence.graph.linking.DEFAULT_SETTINGS`,
        completed with share limits per kind).
    extra_pairs
        Node pairs that must be candidates (reviewer decisions).

    Returns
    -------
    Comparisons

    Notes
    -----
    Cost: O(P log P) for P (pair, shared key) rows; P is bounded by the share
    limits (at most ``limit**2 / 2`` pairs per value).
    """
    n = graph.n_accounts
    ident, uses = graph.identifiers, graph.uses
    kind_names = list(graph.kind_names)
    specs = {c["kind"]: c for c in settings["comparisons"]}
    names, kinds = comparison_kinds(settings, kind_names)
    n_comp = len(kinds)
    u_acc = uses["account"].to_numpy().astype(np.int64)
    u_ident = uses["identifier"].to_numpy().astype(np.int64)
    ident_kind = ident["kind"].cat.codes.to_numpy() if len(ident) else np.array([], np.int8)
    # the uses grouped by kind once, so each kind reads only its own rows
    use_kind = ident_kind[u_ident] if len(u_ident) else np.zeros(0, np.int8)
    by_kind = np.argsort(use_kind, kind="stable")
    kind_lo = np.searchsorted(use_kind[by_kind], np.arange(len(kind_names)))
    kind_hi = np.searchsorted(use_kind[by_kind], np.arange(len(kind_names)), side="right")
    local = np.zeros(len(ident), np.int64)  # an identifier's code within its kind
    values = pa.array(ident["value"].array, pa.large_string()) if len(ident) else \
        pa.array([], pa.large_string())

    rec_lo, rec_hi, rec_comp, rec_level, rec_n = [], [], [], [], []
    has_value = np.zeros((n, n_comp), bool)
    level_names: list[list[str]] = []
    region = settings.get("phone_region")
    for ci, kind in enumerate(kinds):
        spec = specs.get(kind, {})
        limit = int(settings["share_limits"][kind])
        bands = band_names(settings["hub_bands"], limit)
        with_partial = spec.get("partial") is not None
        level_names.append(["null", "different"] + (["partial"] if with_partial else []) + bands)
        first_exact = 3 if with_partial else 2
        if kind not in kind_names:
            continue
        kc = kind_names.index(kind)
        rows = np.flatnonzero(ident_kind == kc)
        canon, partial = _canonical(values.take(pa.array(rows)), spec, region)
        sel = by_kind[kind_lo[kc]:kind_hi[kc]]
        k_acc, k_ident = u_acc[sel], u_ident[sel]
        local[rows] = canon
        if canon.max(initial=-1) + 1 == len(rows):  # one value per spelling
            acc, code = k_acc, local[k_ident]  # uses are unique already
            sorted_uses = False
        else:
            acc, code = _unique_uses(k_acc, local[k_ident], n)
            sorted_uses = True
        count = np.bincount(code)
        ok = count[code] <= limit  # hub values link nobody and count as no value
        has_value[acc[ok], ci] = True
        shared = ok & (count[code] >= 2)
        lo, hi, key = _group_pairs(acc[shared], code[shared], n, presorted=sorted_uses)
        c = count[key]
        edges = np.array([b for b in sorted(settings["hub_bands"]) if b < limit] + [limit])
        band = len(edges) - 1 - np.searchsorted(edges, c)  # 0 = most shared band
        rec_lo.append(lo), rec_hi.append(hi), rec_comp.append(np.full(len(lo), ci, np.int8))
        rec_level.append((first_exact + band).astype(np.int8)), rec_n.append(c.astype(np.int32))
        if partial is not None:
            local[rows] = partial
            p_code = local[k_ident]
            mine = p_code >= 0
            acc, code = _unique_uses(k_acc[mine], p_code[mine], n)
            count = np.bincount(code) if len(code) else np.zeros(0, np.int64)
            shared = (count[code] >= 2) & (count[code] <= limit)
            lo, hi, key = _group_pairs(acc[shared], code[shared], n, presorted=True)
            rec_lo.append(lo), rec_hi.append(hi), rec_comp.append(np.full(len(lo), ci, np.int8))
            rec_level.append(np.full(len(lo), 2, np.int8))
            # partial keys that may make a candidate on their own are marked by shared_by -1
            alone = spec["name"] in settings.get("partial_candidates", ())
            rec_n.append(np.full(len(lo), -1 if alone else 0, np.int32))

    if extra_pairs is not None and len(extra_pairs[0]):
        ea, eb = np.asarray(extra_pairs[0], np.int64), np.asarray(extra_pairs[1], np.int64)
        rec_lo.append(np.minimum(ea, eb)), rec_hi.append(np.maximum(ea, eb))
        rec_comp.append(np.zeros(len(ea), np.int8)), rec_level.append(np.zeros(len(ea), np.int8))
        rec_n.append(np.zeros(len(ea), np.int32))
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt))
    cells, best, best_n, keys = _best_levels(
        cat(rec_lo, np.int64), cat(rec_hi, np.int64), cat(rec_comp, np.int64),
        cat(rec_level, np.int64), cat(rec_n, np.int64), n, n_comp)
    a, b = keys // n, keys % n
    # without agreement: different where both have a value of the kind, else null
    levels = (has_value[a] & has_value[b]).astype(np.int8)
    by_n = np.zeros((len(keys), n_comp), np.int32)
    agree = best > 0  # extra (decision) pairs carry level 0: no agreement of their own
    levels.ravel()[cells[agree]] = best[agree]
    by_n.ravel()[cells[agree]] = best_n[agree]
    names.append("timing")
    level_names.append(["null", "other", "after ban"])
    levels = np.column_stack([levels, _timing(graph, a, b, settings["after_ban_days"])])
    by_n = np.column_stack([by_n, np.zeros(len(keys), np.int32)])
    return Comparisons(a=a.astype(np.int64), b=b.astype(np.int64), levels=levels.astype(np.int8),
                       names=names, level_names=level_names, shared_by=by_n)


def _best_levels(lo: np.ndarray, hi: np.ndarray, comp: np.ndarray, level: np.ndarray,
                 shared_n: np.ndarray, n: int, n_comp: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The best row per (candidate pair, comparison) of the (pair, key) rows.

    Best: the highest level, then the rarest value (smallest ``shared_n``).
    Only anchored pairs are candidates: those with an exact shared value, a
    decision (level 0) or a partial key of the comparisons in
    ``partial_candidates`` (``shared_n`` -1). IP networks alone are mostly
    coincidences at scale (100,000 accounts: 27,716 pairs of strangers in one
    IPv4 /24 against 1,100 true pairs), which swamp the model's non-match class.

    Returns ``(cells, level, shared_n, keys)``: the pairs' sorted codes
    ``lo * n + hi`` (``keys``) and per best row its cell ``pair * n_comp +
    comparison`` (``pair`` indexes ``keys``), level and ``shared_n`` (>= 0).

    Cost: one sort of P int64 codes for P rows (pair, comparison, level,
    value size and anchor packed into one integer; pairs are numbered densely
    first only when the code would not fit in 63 bits).
    """
    anchor = (shared_n != 0) | (level == 0)
    shared_n = np.maximum(shared_n, 0)
    top_level = int(level.max(initial=0))
    top_n = int(shared_n.max(initial=0))
    # within a cell: level descending, then shared_n ascending; the lowest bit is 0 for rows
    # that anchor their pair
    span = (top_level + 1) * (top_n + 1) * 2
    rank = ((top_level - level) * (top_n + 1) + shared_n) * 2 + ~anchor
    pair = lo * n + hi
    dense = n * n * n_comp * span >= 2**63
    if dense:
        keys_all, pair = np.unique(pair, return_inverse=True)
    code = np.sort((pair * n_comp + comp) * span + rank)
    cell, rank = code // span, code % span
    pair = cell // n_comp
    new_pair = np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, bool)
    pair_no = np.cumsum(new_pair) - 1
    # a pair is a candidate when any of its rows anchors it
    anchored = np.logical_or.reduceat((rank & 1) == 0, np.flatnonzero(new_pair)) \
        if len(pair) else np.zeros(0, bool)
    first = np.r_[True, cell[1:] != cell[:-1]] if len(cell) else np.zeros(0, bool)
    first &= anchored[pair_no]
    kept = np.cumsum(anchored) - 1  # the pair's number among the candidates
    rank = rank[first] // 2
    cells = kept[pair_no[first]] * n_comp + cell[first] % n_comp
    keys = pair[new_pair][anchored]
    if dense:
        keys = keys_all[keys]
    return (cells, (top_level - rank // (top_n + 1)).astype(np.int8),
            (rank % (top_n + 1)).astype(np.int32), keys)


def _timing(graph: AccountGraph, a: np.ndarray, b: np.ndarray, days: float) -> np.ndarray:
    """Timing level per pair: 2 created within ``days`` after the other's ban, 1 other, 0 null."""
    st = graph.status
    ban = pd.DatetimeIndex(st["ban_at"]).asi8
    banned = st["banned"].to_numpy() & (ban != _NAT)
    start = pd.DatetimeIndex(st["first_activity"]).asi8
    window = days * _NS_DAY

    def after(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # y started within the window after x's ban
        ok = banned[x] & (start[y] != _NAT)
        gap = start[y] - ban[x]
        return ok & (gap >= 0) & (gap <= window)

    out = np.where(banned[a] | banned[b], 1, 0).astype(np.int8)
    out[after(a, b) | after(b, a)] = 2
    return out

"""Evidence for a flag: short paths from an account to banned accounts, as
structured data and as one readable sentence, with identifier values masked.

A path step is either a shared identifier ("shares device d:3f9a (used by 3
accounts) with acct_8812") or direct edges ("has 4 transfer edges with
acct_5521"). Identifier values never appear in clear: they are masked by
:class:`ringfence.graph.masking.Masker`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph
from ringfence.graph.masking import Masker

__all__ = ["evidence_paths", "describe_paths"]

class _Lookup:
    """The graph's pair tables as numpy arrays, with sorted keys for O(log P) lookups.

    Reading rows through pandas ``iloc`` cost milliseconds per evidence step;
    plain arrays make explaining thousands of flags cheap.
    """

    def __init__(self, graph: AccountGraph):
        n = self.n = graph.n_accounts
        pairs, edges, ident, st = graph.pairs, graph.links_by_edge, graph.identifiers, graph.status
        self.pair_keys = pairs["a"].to_numpy() * n + pairs["b"].to_numpy()
        self.pair_top = pairs["top_identifier"].to_numpy()
        self.pair_n_shared = pairs["n_shared"].to_numpy()
        self.pair_weight = pairs["weight"].to_numpy()
        self.edge_keys = edges["a"].to_numpy() * n + edges["b"].to_numpy()
        self.edge_n = edges["n_edges"].to_numpy()
        self.edge_top_kind = edges["top_kind"].to_numpy()
        self.edge_amount = edges["amount"].to_numpy()
        self.edge_weight = edges["weight"].to_numpy()
        self.edge_kind_names = graph.edge_kind_names
        # evidence cites a few thousand identifiers and banned accounts: read those on demand
        # rather than converting millions of strings up front
        self._kind_code = ident["kind"].cat.codes.to_numpy()
        self._kind_names = [str(k) for k in ident["kind"].cat.categories]
        self._values = ident["value"].array
        self._ban_at = st["ban_at"].array
        self._ban_reason = st["ban_reason"].array
        self._confirmed = st["confirmed"].to_numpy() if "confirmed" in st.columns else None
        self.ident_n = ident["n_accounts"].to_numpy()
        self.banned_cache: dict[int, tuple[dict, str]] = {}
        self.violations = st["violations"].to_numpy()
        self.ids = graph.account_ids
        # filled by prefetch(): what the explained paths read, looked up in one batch
        self._steps: dict[int, tuple[int, int]] = {}
        self._value_of: dict[int, str] = {}
        self._ban_of: dict[int, tuple[pd.Timestamp | None, str]] = {}
        self.masks: dict[int, str] = {}  # identifier -> its mask (evidence_paths' masker)

    def prefetch(self, pairs: np.ndarray, nodes: np.ndarray) -> None:
        """Look up the steps ``pairs`` (shape (k, 2)) and the bans of ``nodes`` at once: one
        sorted search per table and one take per column instead of a scalar lookup (a few
        microseconds through numpy or pandas) per step. Cost O(k log P)."""
        if len(pairs):
            key = pairs.min(axis=1) * self.n + pairs.max(axis=1)
            pi, ei = self._find_many(self.pair_keys, key), self._find_many(self.edge_keys, key)
            self._steps.update(zip(key.tolist(), zip(pi.tolist(), ei.tolist())))
            tops = np.unique(self.pair_top[pi[pi >= 0]])
            self._value_of.update(zip(tops.tolist(), map(str, self._values.take(tops))))
        if len(nodes):
            nodes = np.unique(nodes)
            ats, reasons = self._ban_at.take(nodes), self._ban_reason.take(nodes)
            self._ban_of.update(
                (node, ((None if pd.isna(at) else at), ("" if pd.isna(reason) else str(reason))))
                for node, at, reason in zip(nodes.tolist(), ats, reasons))

    @staticmethod
    def _find_many(keys: np.ndarray, key: np.ndarray) -> np.ndarray:
        i = np.searchsorted(keys, key)
        inside = i < len(keys)
        hit = inside & (keys[np.where(inside, i, 0)] == key) if len(keys) else inside
        return np.where(hit, i, -1)

    def kind(self, identifier: int) -> str:
        return self._kind_names[self._kind_code[identifier]]

    def value(self, identifier: int) -> str:
        hit = self._value_of.get(identifier)
        return hit if hit is not None else str(self._values[identifier])

    def ban(self, node: int) -> tuple[pd.Timestamp | None, str]:
        """When the account was banned (None if unknown) and the ban's reason."""
        hit = self._ban_of.get(node)
        if hit is not None:
            return hit
        at = self._ban_at[node]
        reason = self._ban_reason[node]
        return (None if pd.isna(at) else at), ("" if pd.isna(reason) else str(reason))

    def confirmed(self, node: int) -> bool:
        """Whether a reviewer confirmed the account as an offender (a seed like a ban)."""
        return self._confirmed is not None and bool(self._confirmed[node])

    @staticmethod
    def _find(keys: np.ndarray, key: int) -> int:
        i = int(np.searchsorted(keys, key))
        return i if i < len(keys) and keys[i] == key else -1

    def step(self, u: int, v: int) -> tuple[int, int]:
        key = min(u, v) * self.n + max(u, v)
        hit = self._steps.get(key)
        return hit if hit is not None else (self._find(self.pair_keys, key),
                                            self._find(self.edge_keys, key))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _step(lk: _Lookup, masker: Masker, u: int, v: int) -> dict:
    pi, ei = lk.step(u, v)
    if pi >= 0:
        top = int(lk.pair_top[pi])
        kind = lk.kind(top)
        mask = lk.masks.get(top)
        if mask is None:
            mask = lk.masks[top] = masker.mask(kind, lk.value(top))
        step = {"via": "identifier", "kind": kind,
                "mask": mask,
                "shared_by": int(lk.ident_n[top]), "n_shared": int(lk.pair_n_shared[pi]),
                "weight": float(lk.pair_weight[pi])}
        text = f"shares {kind} {step['mask']} (used by {_plural(step['shared_by'], 'account')})"
        if step["n_shared"] > 1:
            text += f" and {_plural(step['n_shared'] - 1, 'more identifier')}"
        if ei >= 0:
            text += f" and {_plural(int(lk.edge_n[ei]), 'direct edge')}"
        step["text"] = text
        return step
    kind = lk.edge_kind_names[int(lk.edge_top_kind[ei])]
    n_edges = int(lk.edge_n[ei])
    step = {"via": "edge", "kind": kind, "n_edges": n_edges, "weight": float(lk.edge_weight[ei])}
    text = f"has {_plural(n_edges, kind + ' edge')}"
    amount = float(lk.edge_amount[ei])
    if kind == "transfer" and amount > 0:
        text += f" ({amount:,.2f} in total)"
    step["text"] = text
    return step


def _banned_text(lk: _Lookup, node: int) -> tuple[dict, str]:
    # a banned account is the end of many paths: describe it once
    hit = lk.banned_cache.get(node)
    if hit is not None:
        return dict(hit[0]), hit[1]
    at, reason = lk.ban(node)
    info = {"account_id": str(lk.ids[node]), "ban_at": at.isoformat() if at is not None else None,
            "reason": reason, "violations": int(lk.violations[node])}
    bits = [b for b in (info["reason"], _plural(info["violations"], "violation")
                        if info["violations"] else "") if b]
    when = f" {at:%Y-%m-%d}" if at is not None else ""
    what = "confirmed offender" if lk.confirmed(node) else "banned"
    text = f"{info['account_id']}, {what}{when}" + (f" ({', '.join(bits)})" if bits else "")
    lk.banned_cache[node] = (info, text)
    return dict(info), text


def evidence_paths(graph: AccountGraph, nodes: np.ndarray | list[int], *, max_paths: int = 3,
                   fan_out: int = 50, masker: Masker | None = None) -> dict[int, list[dict]]:
    """Up to ``max_paths`` short paths (1 or 2 hops) from each node to banned accounts.

    Paths never pass through cleared accounts. One-hop paths come first
    (strongest link first), then two-hop paths ranked by their weakest link.
    Only the ``fan_out`` strongest neighbours of each node are explored.

    Parameters
    ----------
    graph
        From :func:`graph.build.build_graph`.
    nodes
        Node numbers (``graph.nodes(account_ids)``).

    Returns
    -------
    dict
        node -> list of paths; each path is a dict with ``accounts`` (ids
        along the path), ``steps`` (one dict per hop: ``via`` "identifier"
        or "edge", ``kind``, masked identifier or edge count, ``weight``),
        ``banned`` (id, ban time, reason, violations), ``strength`` and
        ``text`` (one readable sentence).

    Notes
    -----
    Cost: O(k * fan_out * d) for k nodes and neighbour degree d; meant for the
    flagged accounts, not all accounts.
    """
    masker = masker or Masker()
    adj = graph.adjacency
    banned = graph.status["banned"].to_numpy()
    cleared = graph.status["cleared"].to_numpy()
    lookup = _Lookup(graph)
    ids = graph.account_ids
    out: dict[int, list[dict]] = {}

    def neighbours(u: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = adj.indptr[u], adj.indptr[u + 1]
        nb, w = adj.indices[lo:hi], adj.data[lo:hi]
        if len(nb) > fan_out:
            top = np.argsort(-w, kind="stable")[:fan_out]
            nb, w = nb[top], w[top]
        return nb, w

    # first the paths of every node, then their steps and banned accounts looked up in one
    # batch (lookup.prefetch), then the sentences
    chosen: list[tuple[int, list[tuple[int, float, tuple[int, ...]]]]] = []
    for u in np.asarray(nodes, dtype=np.int64):
        u = int(u)
        candidates: list[tuple[int, float, tuple[int, ...]]] = []
        nb, w = neighbours(u)
        for v, wv in zip(nb, w):
            if banned[v]:
                candidates.append((1, -float(wv), (u, int(v))))
        if len(candidates) < max_paths:
            for v, wv in zip(nb, w):
                if banned[v] or cleared[v]:
                    continue
                nb2, w2 = neighbours(int(v))
                hit = banned[nb2] & (nb2 != u)
                for x, wx in zip(nb2[hit], w2[hit]):
                    candidates.append((2, -float(min(wv, wx)), (u, int(v), int(x))))
        candidates.sort()
        picked, seen_banned = [], set()
        for hops, neg_strength, path in candidates:
            if path[-1] in seen_banned:
                continue  # one path per banned account: three different witnesses read better
            seen_banned.add(path[-1])
            picked.append((hops, neg_strength, path))
            if len(picked) == max_paths:
                break
        chosen.append((u, picked))
    steps_needed = [(p[i], p[i + 1]) for _, picked in chosen for _, _, p in picked
                    for i in range(len(p) - 1)]
    lookup.prefetch(np.array(steps_needed, dtype=np.int64).reshape(-1, 2),
                    np.array([p[-1] for _, picked in chosen for _, _, p in picked], np.int64))
    for u, picked in chosen:
        paths = []
        for hops, neg_strength, path in picked:
            steps = [_step(lookup, masker, path[i], path[i + 1])
                     for i in range(len(path) - 1)]
            info, banned_txt = _banned_text(lookup, path[-1])
            if hops == 1:
                text = f"{steps[0]['text']} with {banned_txt}"
            else:
                text = (f"{steps[0]['text']} with {ids[path[1]]}, which {steps[1]['text']} "
                        f"with {banned_txt}")
            paths.append({"accounts": [str(ids[p]) for p in path], "steps": steps,
                          "banned": info, "strength": -neg_strength, "hops": hops,
                          "text": text})
        out[u] = paths
    return out


def describe_paths(paths: list[dict[str, Any]]) -> str:
    """The reasons column: the paths' sentences joined with '; '."""
    return "; ".join(p["text"] for p in paths)

"""Evidence for a flag: short paths from an account to banned accounts, as
structured data and as one readable sentence, with identifier values masked.

A path step is either a shared identifier ("shares device d:3f9a (used by 3
accounts) with acct_8812") or direct edges ("has 4 transfer edges with
acct_5521"). Identifier values never appear in clear: they are shown as the
kind's initial and a short keyed hash (HMAC-SHA256) whose key comes from the
``RINGFENCE_MASK_KEY`` environment variable; without it a random per-run key
is used, and masks then differ between runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graph.build import AccountGraph

__all__ = ["Masker", "evidence_paths", "describe_paths"]

MASK_ENV = "RINGFENCE_MASK_KEY"


class Masker:
    """Masks identifier values as ``<kind initial>:<4 hex of HMAC-SHA256>``.

    Parameters
    ----------
    key
        The HMAC key. ``None`` reads ``RINGFENCE_MASK_KEY`` from the
        environment, or draws a random key (``persistent`` is then False).

    Examples
    --------
    >>> Masker(b"k").mask("device", "a1b2c3")
    'd:3c52'
    """

    def __init__(self, key: bytes | str | None = None):
        if key is None:
            env = os.environ.get(MASK_ENV)
            self.persistent = bool(env)
            key = env if env else secrets.token_bytes(32)
        else:
            self.persistent = True
        self._key = key.encode() if isinstance(key, str) else key

    def __repr__(self) -> str:  # never show the key
        return f"Masker(persistent={self.persistent})"

    def mask(self, kind: str, value: str, digits: int = 4) -> str:
        digest = hmac.new(self._key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[:1] or '?'}:{digest[:digits]}"

    def mask_many(self, kinds: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.array([self.mask(str(k), str(v)) for k, v in zip(kinds, values)], dtype=object)


@dataclass
class _Lookup:
    """Sorted pair keys of the graph's sharing pairs and edge pairs, for O(log P) lookups."""

    n: int
    pair_keys: np.ndarray
    edge_keys: np.ndarray

    @classmethod
    def of(cls, graph: AccountGraph) -> "_Lookup":
        n = graph.n_accounts
        pk = graph.pairs["a"].to_numpy() * n + graph.pairs["b"].to_numpy()
        ek = graph.links_by_edge["a"].to_numpy() * n + graph.links_by_edge["b"].to_numpy()
        return cls(n, pk, ek)

    @staticmethod
    def _find(keys: np.ndarray, key: int) -> int:
        i = int(np.searchsorted(keys, key))
        return i if i < len(keys) and keys[i] == key else -1

    def step(self, u: int, v: int) -> tuple[int, int]:
        key = min(u, v) * self.n + max(u, v)
        return self._find(self.pair_keys, key), self._find(self.edge_keys, key)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _step(graph: AccountGraph, lookup: _Lookup, masker: Masker, u: int, v: int) -> dict:
    pi, ei = lookup.step(u, v)
    if pi >= 0:
        row = graph.pairs.iloc[pi]
        ident = graph.identifiers.iloc[int(row["top_identifier"])]
        kind = str(ident["kind"])
        step = {"via": "identifier", "kind": kind,
                "mask": masker.mask(kind, str(ident["value"])),
                "shared_by": int(ident["n_accounts"]), "n_shared": int(row["n_shared"]),
                "weight": float(row["weight"])}
        text = f"shares {kind} {step['mask']} (used by {_plural(step['shared_by'], 'account')})"
        if step["n_shared"] > 1:
            text += f" and {_plural(step['n_shared'] - 1, 'more identifier')}"
        if ei >= 0:
            erow = graph.links_by_edge.iloc[ei]
            text += f" and {_plural(int(erow['n_edges']), 'direct edge')}"
        step["text"] = text
        return step
    erow = graph.links_by_edge.iloc[ei]
    kind = graph.edge_kind_names[int(erow["top_kind"])]
    n_edges = int(erow["n_edges"])
    step = {"via": "edge", "kind": kind, "n_edges": n_edges, "weight": float(erow["weight"])}
    text = f"has {_plural(n_edges, kind + ' edge')}"
    if kind == "transfer" and erow["amount"] > 0:
        text += f" ({erow['amount']:,.2f} in total)"
    step["text"] = text
    return step


def _banned_text(graph: AccountGraph, node: int) -> tuple[dict, str]:
    st = graph.status.iloc[node]
    info = {"account_id": str(graph.account_ids[node]),
            "ban_at": None if pd.isna(st["ban_at"]) else st["ban_at"].isoformat(),
            "reason": str(st["ban_reason"] or ""), "violations": int(st["violations"])}
    bits = [b for b in (info["reason"], _plural(info["violations"], "violation")
                        if info["violations"] else "") if b]
    when = f" {st['ban_at']:%Y-%m-%d}" if info["ban_at"] else ""
    text = f"{info['account_id']}, banned{when}" + (f" ({', '.join(bits)})" if bits else "")
    return info, text


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
    lookup = _Lookup.of(graph)
    ids = graph.account_ids
    out: dict[int, list[dict]] = {}

    def neighbours(u: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = adj.indptr[u], adj.indptr[u + 1]
        nb, w = adj.indices[lo:hi], adj.data[lo:hi]
        if len(nb) > fan_out:
            top = np.argsort(-w, kind="stable")[:fan_out]
            nb, w = nb[top], w[top]
        return nb, w

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
        paths, seen_banned = [], set()
        for hops, neg_strength, path in candidates:
            if path[-1] in seen_banned:
                continue  # one path per banned account: three different witnesses read better
            seen_banned.add(path[-1])
            steps = [_step(graph, lookup, masker, path[i], path[i + 1])
                     for i in range(len(path) - 1)]
            info, banned_txt = _banned_text(graph, path[-1])
            if hops == 1:
                text = f"{steps[0]['text']} with {banned_txt}"
            else:
                text = (f"{steps[0]['text']} with {ids[path[1]]}, which {steps[1]['text']} "
                        f"with {banned_txt}")
            paths.append({"accounts": [str(ids[p]) for p in path], "steps": steps,
                          "banned": info, "strength": -neg_strength, "hops": hops,
                          "text": text})
            if len(paths) == max_paths:
                break
        out[u] = paths
    return out


def describe_paths(paths: list[dict[str, Any]]) -> str:
    """The reasons column: the paths' sentences joined with '; '."""
    return "; ".join(p["text"] for p in paths)

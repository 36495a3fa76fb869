"""The graph around flagged accounts, kept with a run so that its reports outlive its inputs.

:func:`keep_around` cuts out of an :class:`~ringfence.graph.build.AccountGraph`
the accounts within ``hops`` links of the flagged ones, with the identifiers
two or more of them share and those uses (values replaced by their masks: the
clear values are never kept),
the sharing pairs and direct edges among them and their enforcement rows.
:func:`write_stored_graph` saves it as Parquet files and
:func:`read_stored_graph` loads it back as an ``AccountGraph`` on which
:func:`ringfence.graph.neighbourhood.neighbourhood` and
:func:`ringfence.graph.evidence.evidence_paths` work as on the whole graph;
:class:`RecordedMasks` then "masks" by returning the stored mask.

Bounds: from each account of a hop's frontier only its ``fan_out`` strongest
links are followed, and at most ``max_accounts`` accounts are kept (the
weakest-linked accounts of the farthest hop go first), so the kept graph has at
most ``max_accounts`` accounts whatever the platform. Defaults: two hops,
:data:`FAN_OUT` = 50 (what :func:`~ringfence.graph.evidence.evidence_paths` explores,
so evidence computed on the kept graph is the whole graph's; a case report's picture
shows 60 nodes, strongest links first), :data:`MAX_ACCOUNTS` = 200,000.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringfence.graph._arrow import positions
from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.masking import Masker

__all__ = ["FAN_OUT", "MAX_ACCOUNTS", "StoredGraph", "RecordedMasks", "keep_around",
           "write_stored_graph", "read_stored_graph", "PREFIX"]

FAN_OUT = 50
MAX_ACCOUNTS = 200_000
PREFIX = "graph_"  # file names in a run folder: graph_accounts.parquet, ...
_FILES = ("accounts", "identifiers", "uses", "pairs", "edges", "enforcement")


@dataclass
class StoredGraph:
    """The kept part of a run's graph, its enforcement rows and how it was cut.

    ``graph`` is an :class:`AccountGraph` of the kept accounts (nodes
    renumbered) whose identifier ``value`` column holds masks; ``info`` has
    ``hops``, ``fan_out``, ``max_accounts``, ``flagged`` (centre accounts),
    ``accounts``, ``identifiers``, ``trimmed`` (accounts reached but left out by the
    cap; the cap also stops the search, so accounts beyond them are not counted) and
    ``seconds`` (the time the cut took).
    """

    graph: AccountGraph
    enforcement: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


class RecordedMasks(Masker):
    """A masker for a stored graph: its identifier values already are the run's masks."""

    def __init__(self) -> None:
        super().__init__(b"recorded")

    def __repr__(self) -> str:
        return "RecordedMasks()"

    def mask(self, kind: str, value: str, digits: int = 4) -> str:
        return str(value)


def _top_links(adj: sp.csr_matrix, rows: np.ndarray, fan_out: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """The ``fan_out`` strongest positive links of each row: (neighbour, weight) arrays."""
    sub = adj[rows]
    nb, w = sub.indices, sub.data
    row = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
    pos = w > 0
    nb, w, row = nb[pos], w[pos], row[pos]
    order = np.lexsort((nb, -w, row))  # per row, strongest first (ties: smaller node)
    row, nb, w = row[order], nb[order], w[order]
    start = np.searchsorted(row, row, side="left")
    keep = np.arange(len(row)) - start < fan_out
    return nb[keep], w[keep]


def _select(graph: AccountGraph, nodes: np.ndarray, hops: int, fan_out: int,
            max_accounts: int) -> tuple[np.ndarray, int]:
    """Kept node numbers (sorted) and how many reached accounts the cap left out."""
    n = graph.n_accounts
    adj = graph.adjacency.tocsr()
    kept = np.zeros(n, bool)
    frontier = np.unique(np.asarray(nodes, np.int64))[:max_accounts]
    kept[frontier] = True
    trimmed = 0
    for _ in range(hops):
        if not len(frontier):
            break
        nb, w = _top_links(adj, frontier, fan_out)
        best = np.zeros(n)
        np.maximum.at(best, nb, w)
        new = np.flatnonzero((best > 0) & ~kept)
        room = max_accounts - int(kept.sum())
        if len(new) > room:
            trimmed += len(new) - room
            new = np.sort(new[np.lexsort((new, -best[new]))[:room]])
        kept[new] = True
        frontier = new
    return np.flatnonzero(kept), trimmed


def keep_around(graph: AccountGraph, nodes: np.ndarray, masker: Masker, *,
                enforcement: pd.DataFrame | None = None, hops: int = 2,
                fan_out: int = FAN_OUT, max_accounts: int = MAX_ACCOUNTS) -> StoredGraph:
    """The part of ``graph`` within ``hops`` links of ``nodes``, identifier values masked.

    Parameters
    ----------
    graph
        The run's graph.
    nodes
        Centre node numbers (the flagged accounts).
    masker
        The run's masker: stored identifiers carry the masks its reasons show.
    enforcement
        The run's enforcement table; the kept accounts' rows are stored.
    hops, fan_out, max_accounts
        The bounds (see the module's text).

    Returns
    -------
    StoredGraph

    Notes
    -----
    Cost: ``hops`` sparse row selections and sorts over the followed links,
    O(accounts + identifier uses) to cut the tables, and one mask per kept
    identifier.

    Examples
    --------
    >>> from ringfence.graph.build import build_graph
    >>> from ringfence.graph.tables import example_tables
    >>> g = build_graph(example_tables())
    >>> kept = keep_around(g, g.nodes(["a"]), Masker(b"k"))
    >>> kept.graph.account_ids.tolist(), kept.graph.identifiers["value"].tolist()
    (['a', 'b'], ['d:9126'])
    """
    if int(hops) != hops or hops < 0 or fan_out < 1 or max_accounts < 1:
        raise ValueError("hops must be >= 0, fan_out and max_accounts >= 1")
    t0 = time.perf_counter()
    keep, trimmed = _select(graph, nodes, int(hops), int(fan_out), int(max_accounts))
    n = graph.n_accounts
    new_node = np.full(n, -1, np.int64)
    new_node[keep] = np.arange(len(keep))

    uses = graph.uses
    ua, ui = uses["account"].to_numpy(), uses["identifier"].to_numpy()
    u_rows = np.flatnonzero(new_node[ua] >= 0)
    # identifiers two kept accounts share: the only ones a neighbourhood or a path shows
    shared = np.bincount(ui[u_rows], minlength=len(graph.identifiers)) >= 2
    u_rows = u_rows[shared[ui[u_rows]]]
    ident_rows = np.flatnonzero(shared)
    new_ident = np.full(len(graph.identifiers), -1, np.int64)
    new_ident[ident_rows] = np.arange(len(ident_rows))
    idf = graph.identifiers.iloc[ident_rows].reset_index(drop=True)
    idf["value"] = pd.array(masker.mask_many(idf["kind"].astype(str).to_numpy(),
                                             idf["value"].to_numpy()), dtype=object)
    u = uses.iloc[u_rows].reset_index(drop=True)
    u["account"] = new_node[u["account"].to_numpy()].astype(np.int32)
    u["identifier"] = new_ident[u["identifier"].to_numpy()].astype(np.int32)

    def among(df: pd.DataFrame) -> pd.DataFrame:
        a, b = new_node[df["a"].to_numpy()], new_node[df["b"].to_numpy()]
        sel = (a >= 0) & (b >= 0)
        out = df[sel].reset_index(drop=True)
        out["a"], out["b"] = a[sel], b[sel]
        return out

    pairs = among(graph.pairs)
    pairs["top_identifier"] = new_ident[pairs["top_identifier"].to_numpy()]
    sub = graph.adjacency.tocsr()[keep][:, keep].tocsr()
    ids = graph.account_ids[keep]
    kept = AccountGraph(account_ids=ids, index=pd.Index(ids), identifiers=idf, uses=u,
                        kind_names=list(graph.kind_names), pairs=pairs,
                        links_by_edge=among(graph.links_by_edge),
                        edge_kind_names=list(graph.edge_kind_names), adjacency=sub,
                        status=graph.status.iloc[keep].reset_index(drop=True),
                        as_of=graph.as_of, config=graph.config)
    if enforcement is not None and len(enforcement):
        # Arrow's hash lookup: pandas' isin on Arrow strings goes through Python objects
        # (1.5 s for the enforcement rows of a 1,000,000-account run)
        keep_rows = positions(enforcement["account_id"], pd.Index(ids)) >= 0
        enf = enforcement[keep_rows].reset_index(drop=True)
    else:
        enf = pd.DataFrame({"account_id": pd.Series([], dtype=object),
                            "action": pd.Series([], dtype=object)})
    info = {"hops": int(hops), "fan_out": int(fan_out), "max_accounts": int(max_accounts),
            "flagged": int(len(np.unique(nodes))), "accounts": int(len(keep)),
            "identifiers": int(len(idf)), "trimmed": int(trimmed),
            "seconds": round(time.perf_counter() - t0, 3)}
    return StoredGraph(graph=kept, enforcement=enf, info=info)


def write_stored_graph(stored: StoredGraph, directory: str | os.PathLike,
                       prefix: str = PREFIX) -> dict[str, Any]:
    """Write ``stored`` as Parquet files ``<prefix><table>.parquet`` into ``directory``.

    Returns what :func:`read_stored_graph` needs besides the files (``as_of``,
    the kind names), with ``stored.info``, the file names and their total
    ``bytes``. The caller makes the write atomic (a run folder is written as
    a whole).
    """
    d = Path(directory)
    g = stored.graph
    accounts = g.status.copy()
    accounts.insert(0, "account_id", pd.array(g.account_ids, dtype=object))
    idf = g.identifiers.copy()
    idf["kind"] = idf["kind"].astype(str)
    frames = {"accounts": accounts, "identifiers": idf, "uses": g.uses, "pairs": g.pairs,
              "edges": g.links_by_edge, "enforcement": stored.enforcement}
    files = {}
    for name, df in frames.items():
        files[name] = f"{prefix}{name}.parquet"
        df.to_parquet(d / files[name], index=False)
    return {**stored.info, "as_of": g.as_of.isoformat(), "kind_names": list(g.kind_names),
            "edge_kind_names": list(g.edge_kind_names), "files": files,
            "bytes": int(sum((d / f).stat().st_size for f in files.values()))}


def read_stored_graph(directory: str | os.PathLike, meta: dict[str, Any],
                      config: GraphConfig | None = None) -> StoredGraph:
    """Load what :func:`write_stored_graph` wrote, given what it returned (``meta``).

    Raises ``OSError``, ``ValueError`` or ``KeyError`` when it cannot.
    """
    d = Path(directory)
    t = {name: pd.read_parquet(d / meta["files"][name]) for name in _FILES}
    accounts = t["accounts"]
    ids = accounts["account_id"].to_numpy(dtype=object)
    n = len(ids)
    idf = t["identifiers"]
    idf["kind"] = pd.Categorical(idf["kind"].astype(str), categories=meta["kind_names"])
    idf["value"] = idf["value"].astype(object)
    pairs, edges = t["pairs"], t["edges"]
    a = np.r_[pairs["a"].to_numpy(np.int64), edges["a"].to_numpy(np.int64)]
    b = np.r_[pairs["b"].to_numpy(np.int64), edges["b"].to_numpy(np.int64)]
    w = np.r_[pairs["weight"].to_numpy(float), edges["weight"].to_numpy(float)]
    adj = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    adj.sum_duplicates()
    graph = AccountGraph(account_ids=ids, index=pd.Index(ids), identifiers=idf, uses=t["uses"],
                         kind_names=list(meta["kind_names"]), pairs=pairs, links_by_edge=edges,
                         edge_kind_names=list(meta["edge_kind_names"]), adjacency=adj,
                         status=accounts.drop(columns="account_id"),
                         as_of=pd.Timestamp(meta["as_of"]), config=config or GraphConfig())
    info = {k: meta[k] for k in ("hops", "fan_out", "max_accounts", "flagged", "accounts",
                                 "identifiers", "trimmed", "seconds") if k in meta}
    return StoredGraph(graph=graph, enforcement=t["enforcement"], info=info)

"""``ringfence neighbours ACCOUNT_ID --run DIR --hops 2 --out FILE``: a neighbourhood to open
elsewhere.

The accounts within ``--hops`` links of the account, the identifiers they share
(masked) and their direct edges
(:func:`ringfence.graph.neighbourhood.neighbourhood`), written atomically as
GraphML (``.graphml``), GEXF (``.gexf``, Gephi) or CSV (``.csv``: one row per
node, then one per edge, ``element`` telling which), chosen by the file's
extension. The graph is rebuilt from the run's inputs when they are as the run
read them, else taken from the graph the run kept around its flagged accounts
(the command says so). Masks are the run's: those its reasons and links show.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ringfence.graph.atomic import atomic_file
from ringfence.graph.problems import shown
from ringfence.jobs.runs import RunFolderError, _escape_formulas, read_run
from ringfence.jobs.show import account_row

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["add_parser", "run", "FORMATS", "neighbourhood_table", "write_neighbourhood"]

FORMATS = (".graphml", ".gexf", ".csv")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "neighbours", help="write an account's neighbourhood as GraphML, GEXF or CSV",
        description="Write the accounts within N links of an account, the identifiers they "
        "share (masked) and their direct edges, as GraphML, GEXF or CSV (by the extension "
        "of --out), atomically.")
    p.add_argument("account_id", metavar="ACCOUNT_ID",
                   help="the centre account (put -- before an id that starts with -)")
    p.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")
    p.add_argument("--hops", type=int, default=2, metavar="N",
                   help="accounts up to N links away (default 2)")
    p.add_argument("--max-nodes", type=int, default=200, metavar="N",
                   help="at most N nodes, the strongest links kept (default 200)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the file to write: .graphml, .gexf or .csv")


def neighbourhood_table(G: nx.Graph) -> pd.DataFrame:
    """``G`` as one table: a row per node (``element`` "node", ``id``), then a row per edge
    (``element`` "edge", ``source``, ``target``), with every attribute as a column.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph()
    >>> G.add_node("a", kind="account"); G.add_node("b", kind="account")
    >>> G.add_edge("a", "b", kind="transfer", weight=1.5)
    >>> neighbourhood_table(G)[["element", "id", "source", "target", "kind", "weight"]]
      element   id source target      kind  weight
    0    node    a    NaN    NaN   account     NaN
    1    node    b    NaN    NaN   account     NaN
    2    edge  NaN      a      b  transfer     1.5
    """
    nodes = pd.DataFrame([{"element": "node", "id": v, **d} for v, d in G.nodes(data=True)])
    edges = pd.DataFrame([{"element": "edge", "source": u, "target": v, **d}
                          for u, v, d in G.edges(data=True)])
    table = pd.concat([nodes, edges], ignore_index=True)
    first = [c for c in ("element", "id", "source", "target", "kind", "label")
             if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def write_neighbourhood(G: nx.Graph, out: str | os.PathLike) -> Path:
    """Write ``G`` to ``out`` in the format its extension names, atomically; returns the path.

    CSV cells that start like a formula get a quote in front, as in run folders.
    """
    import networkx as nx

    out = Path(out)
    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"{out}: the extension must be one of {', '.join(FORMATS)}")
    with atomic_file(out, fsync=True) as tmp:
        if ext == ".graphml":
            nx.write_graphml(G, tmp)
        elif ext == ".gexf":
            nx.write_gexf(G, tmp)
        else:
            _escape_formulas(neighbourhood_table(G)).to_csv(tmp, index=False,
                                                            lineterminator="\r\n")
    return out


def run(args: argparse.Namespace) -> int:
    from ringfence.graph.masking import Masker
    from ringfence.graph.neighbourhood import neighbourhood
    from ringfence.jobs.report.masks import masks_match, recorded_masks

    if args.hops < 0:
        raise RunFolderError("--hops must be at least 0")
    if args.max_nodes < 1:
        raise RunFolderError("--max-nodes must be at least 1")
    if Path(args.out).suffix.lower() not in FORMATS:
        raise RunFolderError(f"--out {args.out}: give a file ending in "
                             f"{', '.join(FORMATS)} (the format follows the extension)")
    if Path(args.out).is_dir():
        raise RunFolderError(f"--out {args.out}: is a folder, give a file")
    folder = read_run(args.run)
    account_row(folder, args.account_id)
    result = folder.result()
    loaded = result.run["loaded_from"]
    if result.graph is None:
        raise RunFolderError(f"{folder.path}: no graph to cut a neighbourhood from (the inputs "
                             "are gone and the run kept none)")
    if str(args.account_id) not in result.graph.index:
        raise RunFolderError(f"account {str(args.account_id)!r} is not in the graph the run "
                             "kept around its flagged accounts (its inputs changed: "
                             f"{', '.join(loaded['changed_inputs'])})")
    masker = result.masker or Masker()
    known = recorded_masks(result) if masks_match(result, masker) is False else None
    G = neighbourhood(result.graph, str(args.account_id), hops=args.hops,
                      max_nodes=args.max_nodes, scores=result.scores, masker=masker,
                      known_masks=known)
    path = write_neighbourhood(G, args.out)
    n_acc = sum(1 for _, d in G.nodes(data=True) if d["kind"] == "account")
    print(f"ringfence neighbours: wrote {shown(path)}: {n_acc} accounts, "
          f"{G.number_of_nodes() - n_acc} identifiers, {G.number_of_edges()} edges"
          + (f" ({G.graph['trimmed']} weaker accounts left out)" if G.graph["trimmed"] else ""))
    for note in loaded["notes"]:
        print(f"  note: {shown(note)}")
    if known is not None:
        print("  note: the run's masking key is not this one: identifiers its reasons and "
              "links name keep the run's masks, others are masked with this key")
    return 0

"""Pictures of an account's neighbourhood (:func:`~ringfence.graph.neighbourhood.neighbourhood`).

:func:`draw_neighbourhood` draws one on a matplotlib Axes (notebooks);
:func:`neighbourhood_png` renders one as a PNG of fixed size (the case report).
matplotlib is imported only when drawing, so importing this module is cheap.

Examples
--------
>>> import networkx as nx
>>> G = nx.Graph(center="a", hops=1)
>>> G.add_node("a", kind="account", label="a", banned=False)
>>> neighbourhood_png(G)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_neighbourhood", "neighbourhood_png", "KIND_COLOURS", "ACCOUNT_COLOUR",
           "BANNED_COLOUR", "CLEARED_COLOUR", "FLAGGED_COLOUR"]

# node colours; the case report's CSS uses none of them, so its tests find the
# picture in a screenshot by these
ACCOUNT_COLOUR = "#4c78a8"
BANNED_COLOUR = "#d62728"
CLEARED_COLOUR = "#2ca02c"
FLAGGED_COLOUR = "#ff7f0e"
KIND_COLOURS = {
    "device": "#9467bd", "card": "#8c564b", "phone": "#e377c2", "email": "#17becf",
    "ip": "#7f7f7f", "address": "#bcbd22",
}
_OTHER_KIND_COLOUR = "#c7c7c7"


def _account_colour(d: dict) -> str:
    if d.get("banned"):
        return BANNED_COLOUR
    if d.get("cleared"):
        return CLEARED_COLOUR
    if d.get("flagged"):
        return FLAGGED_COLOUR
    return ACCOUNT_COLOUR


def draw_neighbourhood(G: nx.Graph, center: str | None = None, ax: Axes | None = None, *,
                       seed: int = 0, labels: bool | None = None,
                       title: str | None = None) -> Axes:
    """Draw a :func:`~ringfence.graph.neighbourhood.neighbourhood` graph; returns the Axes.

    Accounts are circles (banned red, cleared green, flagged orange, others
    blue; the centre larger with a black ring), identifiers are squares
    coloured by kind (hubs hollow), direct edges are dark and solid,
    identifier uses light; edge width follows ``weight``. The layout is a
    seeded spring layout, so the same graph is drawn the same way. Labels
    and the title are plain text: a ``$`` in an id is never read as
    mathtext, so any id can be drawn.

    Parameters
    ----------
    G
        From :func:`~ringfence.graph.neighbourhood.neighbourhood`.
    center
        The centre account (default ``G.graph["center"]``).
    ax
        A matplotlib Axes (default: a new figure).
    seed
        Seed of the layout.
    labels
        Label the nodes (default: all when there are at most 40 nodes, else
        all but plain accounts and hubs).
    title
        Axes title (default: the centre and the node counts).

    Notes
    -----
    Cost: the spring layout is O(iterations x nodes^2); fine for a few
    hundred nodes.
    """
    from matplotlib.lines import Line2D

    center = center if center is not None else G.graph.get("center")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 7))
    n = G.number_of_nodes()
    if n == 0:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "empty neighbourhood", ha="center", va="center",
                transform=ax.transAxes)
        return ax
    # order nodes so that the layout does not depend on insertion order
    H = nx.Graph()
    H.add_nodes_from(sorted(G.nodes, key=repr))
    H.add_edges_from(sorted((tuple(sorted((u, v), key=repr)) for u, v in G.edges), key=repr))
    ws = np.array([G.edges[e].get("weight", 1.0) for e in G.edges] or [1.0])
    wmax = float(ws.max()) if ws.max() > 0 else 1.0
    for u, v in H.edges:
        H.edges[u, v]["w"] = 0.2 + float(G.edges[u, v].get("weight", 1.0)) / wmax
    # Kamada-Kawai (deterministic) for a readable start, then a few seeded spring steps to
    # pull strongly linked nodes together; plain spring layout for large graphs
    start = nx.kamada_kawai_layout(H) if n <= 250 else None
    pos = nx.spring_layout(H, pos=start, seed=seed, weight="w", k=2.2 / np.sqrt(n),
                           iterations=30 if start is not None else 100)

    accounts = [v for v, d in G.nodes(data=True) if d.get("kind") == "account"]
    idents = [v for v, d in G.nodes(data=True) if d.get("kind") != "account"]
    direct = [(u, v) for u, v, d in G.edges(data=True) if d.get("kind") != "uses"]
    uses = [(u, v) for u, v, d in G.edges(data=True) if d.get("kind") == "uses"]

    def widths(edges):
        return [0.6 + 4.0 * G.edges[e].get("weight", 1.0) / wmax for e in edges]

    nx.draw_networkx_edges(G, pos, edgelist=uses, width=widths(uses), edge_color="#b0b0b0",
                           alpha=0.8, ax=ax)
    nx.draw_networkx_edges(G, pos, edgelist=direct, width=widths(direct), edge_color="#333333",
                           alpha=0.9, ax=ax)
    big = 600 if n <= 40 else 250
    small = 260 if n <= 40 else 110
    if idents:
        colours = [KIND_COLOURS.get(G.nodes[v]["kind"], _OTHER_KIND_COLOUR) for v in idents]
        faces = ["white" if G.nodes[v].get("hub") else c for v, c in zip(idents, colours)]
        nx.draw_networkx_nodes(G, pos, nodelist=idents, node_shape="s", node_size=small,
                               node_color=faces, edgecolors=colours, linewidths=1.5, ax=ax)
    others = [v for v in accounts if v != center]
    if others:
        nx.draw_networkx_nodes(G, pos, nodelist=others, node_shape="o", node_size=big * 0.6,
                               node_color=[_account_colour(G.nodes[v]) for v in others],
                               edgecolors="white", linewidths=1.0, ax=ax)
    if center in G:
        nx.draw_networkx_nodes(G, pos, nodelist=[center], node_shape="o", node_size=big * 1.6,
                               node_color=[_account_colour(G.nodes[center])],
                               edgecolors="black", linewidths=2.5, ax=ax)
    if labels is None:
        labels = n <= 40
    if labels:
        shown = list(G.nodes)
    else:
        shown = [v for v in accounts if v == center or G.nodes[v].get("banned")
                 or G.nodes[v].get("flagged") or G.nodes[v].get("cleared")]
        shown += [v for v in idents if not G.nodes[v].get("hub")]
    text = {v: (f"{G.nodes[v].get('label', '?')} ({G.nodes[v].get('n_accounts', '?')})"
                if G.nodes[v].get("kind") != "account" else str(v)) for v in shown}
    xy = np.array(list(pos.values()))
    dy = 0.035 * max(float(np.ptp(xy[:, 1])) if len(xy) > 1 else 1.0, 1e-9)
    box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
    for v, t in text.items():
        x, y = pos[v]
        is_center = v == center
        ax.text(x, y - dy * (1.6 if is_center else 1.0), t, ha="center", va="top",
                fontsize=(8.5 if is_center else 7 if n > 40 else 7.5),
                fontweight="bold" if is_center else "normal", bbox=box, zorder=5,
                clip_on=False, parse_math=False)

    handles = [
        Line2D([], [], marker="o", ls="", ms=12, mfc=_account_colour(G.nodes[center])
               if center in G else ACCOUNT_COLOUR, mec="black", mew=2, label="this account"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=ACCOUNT_COLOUR, mec="white",
               label="account"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=BANNED_COLOUR, mec="white", label="banned"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=FLAGGED_COLOUR, mec="white",
               label="flagged"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=CLEARED_COLOUR, mec="white",
               label="cleared"),
    ]
    kinds_present = sorted({G.nodes[v]["kind"] for v in idents})
    for k in kinds_present:
        c = KIND_COLOURS.get(k, _OTHER_KIND_COLOUR)
        handles.append(Line2D([], [], marker="s", ls="", ms=8, mfc=c, mec=c, label=k))
    if any(G.nodes[v].get("hub") for v in idents):
        handles.append(Line2D([], [], marker="s", ls="", ms=8, mfc="white", mec="#555555",
                              label="hub (links nobody)"))
    if direct:
        handles.append(Line2D([], [], color="#333333", lw=2, label="direct edges"))
    if uses:
        handles.append(Line2D([], [], color="#b0b0b0", lw=2, label="uses identifier"))
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                       frameon=False, fontsize=8, borderaxespad=0.2)
    for t in legend.get_texts():
        t.set_parse_math(False)
    if title is None:
        n_acc = len(accounts)
        title = (f"{center}: {n_acc} account{'s' if n_acc != 1 else ''}, "
                 f"{len(idents)} shared identifier{'s' if len(idents) != 1 else ''} "
                 f"within {G.graph.get('hops', '?')} hops")
        if G.graph.get("trimmed"):
            title += f" ({G.graph['trimmed']} weaker accounts left out)"
    ax.set_title(title, fontsize=10, parse_math=False)
    ax.set_axis_off()
    ax.margins(0.08)
    return ax


def neighbourhood_png(G: nx.Graph, center: str | None = None, *, width: int = 960,
                      height: int = 640) -> bytes:
    """:func:`draw_neighbourhood` without a title, as PNG bytes of ``width`` x ``height``.

    The legend takes the right fifth of the picture. No pyplot figure is made
    (nothing to close; safe outside notebooks and in threads).

    Parameters
    ----------
    G
        From :func:`~ringfence.graph.neighbourhood.neighbourhood`.
    center
        The centre account (default ``G.graph["center"]``).
    width, height
        Size of the picture in pixels.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.subplots()
    draw_neighbourhood(G, center, ax=ax, title="")
    fig.subplots_adjust(left=0.01, right=0.80, top=0.99, bottom=0.01)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return buf.getvalue()

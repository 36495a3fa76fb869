"""Pictures of a neighbourhood: what is drawn, masked labels, a deterministic layout, PNGs."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ringfence.graph.drawing import draw_neighbourhood, neighbourhood_png  # noqa: E402
from ringfence.graph.masking import Masker  # noqa: E402
from ringfence.graph.neighbourhood import neighbourhood  # noqa: E402

MASKER = Masker(b"test-key")  # the fixture ``graph`` is in conftest.py


def _node_offsets(ax) -> np.ndarray:
    return np.concatenate([c.get_offsets() for c in ax.collections
                           if type(c).__name__ == "PathCollection"])


def test_drawing(graph, tmp_path):
    scores = pd.DataFrame({"account_id": ["c", "a1"], "score": [0.9, 0.4],
                           "flagged": [True, False]})
    G = neighbourhood(graph, "c", hops=2, scores=scores, masker=MASKER)
    ax = draw_neighbourhood(G, "c")
    assert isinstance(ax, matplotlib.axes.Axes)
    # nodes (scatter collections) and edges (line collections) were drawn
    offsets = _node_offsets(ax)
    assert len(offsets) == G.number_of_nodes()
    kinds = {type(c).__name__ for c in ax.collections}
    assert {"PathCollection", "LineCollection"} <= kinds
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"this account", "banned", "cleared", "flagged", "device"} <= set(legend)
    texts = [t.get_text() for t in ax.texts]
    assert "c" in texts and "b1" in texts
    assert MASKER.mask("device", "SECRET-DEV-1") + " (3)" in texts
    assert not any("SECRET" in t for t in texts)
    path = tmp_path / "n.png"
    ax.figure.savefig(path)
    from PIL import Image
    img = np.asarray(Image.open(path).convert("RGB"))
    assert (img.min(axis=2) < 200).mean() > 0.01            # something is drawn
    plt.close(ax.figure)
    # deterministic: the same graph is laid out the same way
    fig, ax2 = plt.subplots()
    draw_neighbourhood(G, "c", ax=ax2)
    assert np.allclose(_node_offsets(ax2), offsets)
    plt.close(fig)
    empty = draw_neighbourhood(nx.Graph())
    assert isinstance(empty, matplotlib.axes.Axes)
    plt.close(empty.figure)


def test_png_of_a_fixed_size(graph):
    from PIL import Image

    G = neighbourhood(graph, "c", hops=2, masker=MASKER)
    png = neighbourhood_png(G)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (960, 640)
    pixels = np.asarray(img.convert("RGB"))
    assert (pixels.min(axis=2) < 200).mean() > 0.01         # something is drawn
    assert neighbourhood_png(G) == png                      # the same bytes every time
    assert Image.open(io.BytesIO(neighbourhood_png(G, width=480, height=320))).size == (480, 320)

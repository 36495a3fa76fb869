"""What the Spark tests share besides fixtures: label-free comparisons of groupings, and the
tables of a synthetic platform (``from spark.helpers import ...``; tests/ is on the path)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ringfence.graph import load_tables
from ringfence.graph.config import GraphConfig

# the flag job of the engine parity tests (conftest.py's in_process_flag and its Spark twin)
FLAG_CONFIG = GraphConfig(seed=3)
FLAG_CAPACITY = 100


def partition(labels: np.ndarray) -> np.ndarray:
    """Each node's group named by its smallest member (-1 stays -1): label-free."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1)
    linked = labels >= 0
    first = pd.Series(np.flatnonzero(linked)).groupby(labels[linked]).transform("min")
    out[linked] = first.to_numpy()
    return out


def per_node(df, column: str, n: int) -> np.ndarray:
    """A Spark table's ``column`` by ``node`` as an array of ``n`` (-1 where absent)."""
    got = df.toPandas()
    out = np.full(n, -1)
    out[got["node"].to_numpy()] = got[column].to_numpy()
    return out


def platform_tables(platform, *, decisions: bool = False):
    """Fresh validated tables of a synthetic platform, with its reviewers' link decisions
    or without."""
    p = platform
    return load_tables(p.accounts, p.identifiers, p.edges, p.enforcement,
                       p.link_decisions if decisions else None)

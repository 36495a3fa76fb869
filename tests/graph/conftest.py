"""The hand-built account graph the neighbourhood and drawing tests look at."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import AccountGraph, build_graph

HUB_USERS = [f"h{i:02d}" for i in range(60)]  # more than the ip share limit (50)


def _ids(rows):
    return pd.DataFrame(rows, columns=["account_id", "kind", "value", "seen_at"])


@pytest.fixture(scope="module")
def graph() -> AccountGraph:
    """c -device-> a1 -phone-> b1 -card-> x ; c -transfer-> e1 ; c, a1 and 60 others on a
    hub ip; c -address-> w1 (weak); a2 shares the device too (cleared); b1 is banned."""
    accounts = pd.DataFrame({"account_id": ["c", "a1", "a2", "b1", "x", "e1", "w1", "lone",
                                            *HUB_USERS]})
    t = "2026-01-01"
    identifiers = _ids([
        ("c", "device", "SECRET-DEV-1", t), ("a1", "device", "SECRET-DEV-1", t),
        ("a2", "device", "SECRET-DEV-1", t),
        ("a1", "phone", "+15550000001", t), ("b1", "phone", "+15550000001", t),
        ("b1", "card", "4111111111111111", t), ("x", "card", "4111111111111111", t),
        ("c", "address", "1 Secret Street", t), ("w1", "address", "1 Secret Street", t),
        ("c", "email", "only-c@example.com", t),
        ("c", "ip", "10.0.0.1", t), ("a1", "ip", "10.0.0.1", t),
        *[(h, "ip", "10.0.0.1", t) for h in HUB_USERS],
    ])
    edges = pd.DataFrame({"src": ["c", "b1"], "dst": ["e1", "lone"],
                          "kind": ["transfer", "message"], "weight": [3.0, 1.0],
                          "at": [t, t], "amount": [120.0, np.nan]})
    enforcement = pd.DataFrame({"account_id": ["b1", "a2", "a1"],
                                "action": ["ban", "cleared", "violation"],
                                "at": ["2025-12-01", "2025-12-02", "2025-11-01"],
                                "reason": ["fraud", "", "spam"]})
    tables = load_tables(accounts=accounts, identifiers=identifiers, edges=edges,
                         enforcement=enforcement)
    return build_graph(tables)


@pytest.fixture(scope="module")
def hub_users() -> list[str]:
    """The accounts that share only the hub ip in ``graph``."""
    return HUB_USERS

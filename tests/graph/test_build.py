"""graph/build.py: account status, released inputs and the usage matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import small_tables as tables

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph


def test_later_clearance_lifts_a_ban_and_later_ban_stands():
    t = tables(["a", "b", "c"], [("a", "device", "d"), ("b", "device", "d")],
               enforcement=[("a", "ban", "2025-01-01", "fraud"),
                            ("a", "cleared", "2025-02-01", ""),
                            ("b", "cleared", "2025-01-01", ""),
                            ("b", "ban", "2025-02-01", "spam")])
    st = build_graph(t).status
    assert st["banned"].tolist() == [False, True, False]
    assert st["cleared"].tolist() == [True, False, False]


def test_build_that_releases_its_inputs_builds_the_same_graph():
    from ringfence.graph.synth import generate_platform
    p = generate_platform(n_accounts=3000, seed=5)
    kept = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    freed = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    a = build_graph(kept)
    b = build_graph(freed, release_inputs=True)
    assert freed.identifiers is None and freed.edges is None and freed.enforcement is not None
    assert not any(k[0] in ("identifiers", "edges") for k in freed._encoded)
    assert kept.identifiers is not None
    for name in ("identifiers", "uses", "pairs", "links_by_edge", "status"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert (a.adjacency != b.adjacency).nnz == 0
    # activity spans read the edges' times, which the released build kept aside
    assert b.status["last_activity"].notna().all()


def test_usage_matrix_is_made_from_uses_on_demand():
    t = load_tables(pd.DataFrame({"account_id": ["a", "b", "c"]}),
                    identifiers=pd.DataFrame({"account_id": ["a", "b", "c", "a"],
                                              "kind": "device",
                                              "value": ["d1", "d1", "d2", "d3"]}))
    g = build_graph(t)
    u = g.usage
    assert u.shape == (3, 3) and u.nnz == len(g.uses) == 4
    assert u is g.usage  # made once
    a = g.nodes(["a"])[0]
    d3 = int(np.flatnonzero(g.identifiers["value"].to_numpy() == "d3")[0])
    assert u[a, d3] == 1.0  # recency of an undated use


def test_identifiers_hold_what_later_stages_read_and_no_times():
    # per-identifier first/last times were read by no stage and cost 16 bytes for each
    # of ~70 million identifiers at 10,000,000 accounts; the times stay per use
    t = load_tables(pd.DataFrame({"account_id": ["a", "b"]}),
                    identifiers=pd.DataFrame({"account_id": ["a", "b", "a"], "kind": "device",
                                              "value": ["d1", "d1", "d1"],
                                              "seen_at": ["2025-01-01", "2025-03-01",
                                                          "2025-02-01"]}))
    g = build_graph(t)
    assert list(g.identifiers.columns) == ["kind", "value", "n_accounts", "weight"]
    assert g.uses["first_seen"].dt.strftime("%m").tolist() == ["01", "03"]
    assert g.uses["last_seen"].dt.strftime("%m").tolist() == ["02", "03"]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_integer_times_are_nanoseconds_whatever_the_columns_unit(unit):
    # pandas 3 keeps a column's own unit; an account created at 2026-01-01 must not
    # come back as a moment in 1970 when the caller's column is in seconds
    from ringfence.graph.build import _from_ns, _ns
    from ringfence.graph.decisions import _ns as decisions_ns

    times = pd.Series(pd.to_datetime(["2026-01-01 12:00:00", None])).astype(f"datetime64[{unit}]")
    want = pd.Timestamp("2026-01-01 12:00:00", tz="UTC").value
    assert _ns(times)[0] == want == decisions_ns(times)[0]
    assert _ns(times)[1] == decisions_ns(times)[1] == np.iinfo(np.int64).min
    assert _from_ns(_ns(times))[0] == pd.Timestamp("2026-01-01 12:00:00", tz="UTC")

"""graph/subgraph.py: the graph kept around flagged accounts: bounded, masked, and the same
neighbourhoods and evidence as the whole graph."""

from __future__ import annotations

import numpy as np
import pytest

from ringfence.graph import load_tables
from ringfence.graph.evidence import evidence_paths
from ringfence.graph.masking import Masker
from ringfence.graph.neighbourhood import neighbourhood
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.subgraph import (RecordedMasks, keep_around, read_stored_graph,
                                      write_stored_graph)
from ringfence.graph.synth import generate_platform

MASKER = Masker(b"kept")


@pytest.fixture(scope="module")
def parts():
    p = generate_platform(n_accounts=3000, seed=5)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    g = run_pipeline(t, stop_after="build").graph
    scores = np.asarray(g.adjacency.sum(axis=1)).ravel()  # the best-linked accounts
    eligible = ~g.status["banned"].to_numpy()
    centres = np.flatnonzero(eligible)[np.argsort(-scores[eligible], kind="stable")[:30]]
    return p, t, g, np.sort(centres)


def test_kept_accounts_are_the_two_hop_neighbourhood_when_the_fan_out_allows(parts):
    p, t, g, centres = parts
    kept = keep_around(g, centres, MASKER, enforcement=t.enforcement, fan_out=10_000)
    adj = g.adjacency.tocsr()
    reach = np.zeros(g.n_accounts, bool)
    reach[centres] = True
    for _ in range(2):
        reach |= (adj[np.flatnonzero(reach)].sum(axis=0).A1 > 0)
    assert sorted(kept.graph.account_ids) == sorted(g.account_ids[reach])
    assert kept.info["trimmed"] == 0 and kept.info["flagged"] == 30
    # their enforcement rows, and only theirs
    enf = t.enforcement
    mine = enf[enf["account_id"].isin(set(kept.graph.account_ids))]
    assert len(kept.enforcement) == len(mine) > 0


def test_bounded_by_fan_out_and_max_accounts(parts):
    p, t, g, centres = parts
    wide = keep_around(g, centres, MASKER, fan_out=10_000).info["accounts"]
    narrow = keep_around(g, centres, MASKER, fan_out=2).info["accounts"]
    assert narrow <= 30 * (1 + 2 + 4) and narrow < wide
    capped = keep_around(g, centres, MASKER, fan_out=10_000, max_accounts=50)
    assert capped.info["accounts"] == 50 and 0 < capped.info["trimmed"] <= wide - 50
    assert set(g.account_ids[centres]) <= set(capped.graph.account_ids)  # centres first


def test_identifier_values_are_masks_never_clear(parts):
    p, t, g, centres = parts
    kept = keep_around(g, centres, MASKER)
    idf = kept.graph.identifiers
    rows = g.uses["identifier"].to_numpy()[np.isin(g.uses["account"].to_numpy(),
                                                    g.nodes(kept.graph.account_ids))]
    full = g.identifiers.iloc[np.flatnonzero(np.bincount(rows) >= 2)]  # shared among them
    assert idf["value"].tolist() == MASKER.mask_many(full["kind"].astype(str).to_numpy(),
                                                     full["value"].to_numpy()).tolist()
    clear = set(p.identifiers["value"].astype(str))
    assert not (set(idf["value"].astype(str)) & clear)
    assert idf["value"].astype(str).str.fullmatch(r"[a-z?]:[0-9a-f]{4}").all()


def test_round_trip_and_the_same_neighbourhood_and_evidence(parts, tmp_path):
    p, t, g, centres = parts
    kept = keep_around(g, centres, MASKER, enforcement=t.enforcement)
    meta = write_stored_graph(kept, tmp_path)
    assert meta["bytes"] == sum(f.stat().st_size for f in tmp_path.iterdir())
    back = read_stored_graph(tmp_path, meta)
    sub = back.graph
    assert sub.account_ids.tolist() == kept.graph.account_ids.tolist()
    nodes = g.nodes(sub.account_ids)
    full = g.adjacency.tocsr()[nodes][:, nodes]
    assert abs(full - sub.adjacency).max() < 1e-12          # every link among kept accounts
    assert sub.as_of == g.as_of
    for node in centres[:10]:
        acc = g.account_ids[node]
        a = neighbourhood(g, acc, hops=2, max_nodes=60, masker=MASKER)
        b = neighbourhood(sub, acc, hops=2, max_nodes=60, masker=RecordedMasks())
        # identifier nodes are keyed by row (rows differ), labelled by mask (the same)
        assert sorted(d["label"] for _, d in a.nodes(data=True)) == \
            sorted(d["label"] for _, d in b.nodes(data=True))
        assert a.number_of_edges() == b.number_of_edges() > 0
        ea = evidence_paths(g, [node], masker=MASKER)[int(node)]
        eb = evidence_paths(sub, sub.nodes([acc]), masker=RecordedMasks())
        assert [x["text"] for x in ea] == [x["text"] for x in next(iter(eb.values()))]

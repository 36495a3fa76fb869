"""graph/evidence.py: evidence paths name the shared identifier (masked) and the banned account."""

from __future__ import annotations


from helpers import small_tables as tables

from ringfence.graph.build import build_graph
from ringfence.graph.evidence import evidence_paths
from ringfence.graph.masking import Masker


def test_evidence_names_identifier_masked_and_the_banned_account():
    t = tables(["new", "old", "mid", "far"],
               [("new", "device", "SECRET-DEVICE-123"), ("old", "device", "SECRET-DEVICE-123"),
                ("new", "card", "4111111111111111"), ("mid", "card", "4111111111111111"),
                ("mid", "phone", "+15550000"), ("far", "phone", "+15550000")],
               enforcement=[("old", "ban", "2026-03-01", "fraud"),
                            ("old", "violation", "2026-01-01", "fraud"),
                            ("far", "ban", "2026-02-01", "spam")])
    g = build_graph(t)
    masker = Masker(b"test-key")
    paths = evidence_paths(g, g.nodes(["new"]), masker=masker)[0]
    assert len(paths) == 2
    first = paths[0]
    assert first["hops"] == 1 and first["banned"]["account_id"] == "old"
    mask = masker.mask("device", "SECRET-DEVICE-123")
    assert first["text"] == (f"shares device {mask} (used by 2 accounts) with old, "
                             f"banned 2026-03-01 (fraud, 1 violation)")
    assert paths[1]["hops"] == 2 and paths[1]["accounts"] == ["new", "mid", "far"]
    assert "which shares phone" in paths[1]["text"]
    for p in paths:
        assert "SECRET" not in p["text"] and "4111" not in p["text"] and "+1555" not in p["text"]


def test_evidence_does_not_pass_through_cleared_accounts():
    t = tables(["new", "mid", "far"],
               [("new", "card", "c"), ("mid", "card", "c"), ("mid", "phone", "p"),
                ("far", "phone", "p")],
               enforcement=[("far", "ban", "2026-02-01", "spam"),
                            ("mid", "cleared", "2026-02-02", "")])
    g = build_graph(t)
    assert evidence_paths(g, g.nodes(["new"]), masker=Masker(b"k"))[0] == []

"""graph/masking.py: masks are keyed."""

from __future__ import annotations


from ringfence.graph.masking import Masker


def test_masks_are_keyed(monkeypatch):
    assert Masker(b"k1").mask("ip", "1.2.3.4") != Masker(b"k2").mask("ip", "1.2.3.4")
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "stable")
    m1, m2 = Masker(), Masker()
    assert m1.persistent and m1.mask("ip", "1.2.3.4") == m2.mask("ip", "1.2.3.4")
    assert "stable" not in repr(m1)
    monkeypatch.delenv("RINGFENCE_MASK_KEY")
    assert not Masker().persistent

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


def test_mask_many_masks_each_pair_as_mask_does_repeats_included():
    import numpy as np

    m = Masker(b"k" * 32)
    kinds = np.array(["ip", "device", "ip", "ip", "email", "device"], dtype=object)
    values = np.array(["10.0.0.1", "d1", "10.0.0.1", "10.0.0.2", "a@b.c", "10.0.0.1"], dtype=object)
    got = m.mask_many(kinds, values)
    assert got.tolist() == [m.mask(k, v) for k, v in zip(kinds, values)]
    # the same value under two kinds masks differently (the kind is part of the digest)
    assert got[0] == got[2] != got[5]
    assert m.mask_many(np.array([], dtype=object), np.array([], dtype=object)).tolist() == []

"""A canonical row order (graph/canonical.py): accounts by id, identifiers by content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph import canonical
from ringfence.graph.build import build_graph
from ringfence.graph.canonical import canonical_order, content_order, string_hashes
from ringfence.graph.tables import load_tables


def test_string_hashes_depend_on_the_string_only():
    words = ["", "a", "é", "abcdefgh", "abcdefghi", "abcdefgh" * 5, "ab", "ba", "a b"]
    h = string_hashes(pd.Series(words, dtype="str"))
    assert len(set(h.tolist())) == len(words)
    # the same strings elsewhere in another array, in chunks and at an offset
    chunked = pa.chunked_array([["x", "abcdefghi"], ["é", "", "abcdefgh" * 5]])
    h2 = string_hashes(pd.Series(pd.arrays.ArrowStringArray(chunked)))
    assert h2.tolist()[1:] == [h[4], h[2], h[0], h[5]]
    sliced = pa.array(["zz", "ab", "ba"]).slice(1)
    assert string_hashes(pd.Series(pd.arrays.ArrowStringArray(sliced))).tolist() == [h[6], h[7]]
    # plain Python strings hash the same
    assert string_hashes(np.array(words, dtype=object)).tolist() == h.tolist()


def _reference_hash(text: str) -> int:
    """string_hashes' recipe one string at a time, in Python integers: the length times
    the golden ratio, then per eight bytes (little-endian, zero-padded) splitmix64's
    finaliser of ``h * golden + word``."""
    m = 2**64 - 1
    golden = 0x9E3779B97F4A7C15
    data = text.encode()
    h = (len(data) * golden) & m
    for pos in range(0, len(data), 8):
        word = int.from_bytes(data[pos:pos + 8], "little")
        h = (h * golden + word) & m
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & m
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & m
        h = h ^ (h >> 31)
    return h


def test_string_hashes_are_the_recipe_for_every_length():
    # lengths 0 to 40 around every word boundary, multi-byte characters, in an order
    # where long and short strings alternate (the hash reads the longest first)
    rng = np.random.default_rng(5)
    alphabet = list("ab9 -é€😀")
    words = ["".join(rng.choice(alphabet, size=int(k))) for k in rng.integers(0, 30, 400)]
    words += ["x" * k for k in range(41)][::-1]
    chunked = pa.chunked_array([words[:150], words[150:]])
    got = string_hashes(pd.Series(pd.arrays.ArrowStringArray(chunked)))
    assert got.tolist() == [_reference_hash(w) for w in words]
    sliced = pa.array(words).slice(37, 100)
    assert string_hashes(pd.Series(pd.arrays.ArrowStringArray(sliced))).tolist() == \
        [_reference_hash(w) for w in words[37:137]]


def test_content_order_falls_back_to_sorting_strings_on_a_collision(monkeypatch):
    kinds = np.array([0, 0, 0, 1])
    values = np.array(["c", "a", "b", "a"], dtype=object)
    monkeypatch.setattr(canonical, "string_hashes", lambda v: np.zeros(len(v), np.uint64))
    assert content_order(kinds, values).tolist() == [1, 2, 0, 3]


def _tables(accounts, identifiers, enforcement):
    return load_tables(pd.DataFrame({"account_id": accounts, "n": range(len(accounts))}),
                       identifiers=pd.DataFrame(identifiers,
                                                columns=["account_id", "kind", "value"]),
                       enforcement=pd.DataFrame(enforcement,
                                                columns=["account_id", "action", "at", "reason"]))


def test_canonical_order_sorts_accounts_and_enforcement_and_keeps_positions():
    t = _tables(["c", "a", "b"], [("a", "device", "d1"), ("c", "device", "d1")],
                [("c", "ban", "2026-01-02", "fraud"), ("a", "ban", "2026-01-01", "spam"),
                 ("c", "violation", "2026-01-01", "spam")])
    canonical_order(t)
    assert t.accounts["account_id"].tolist() == ["a", "b", "c"]
    assert t.accounts["n"].tolist() == [1, 2, 0]  # attributes moved with their account
    assert t.account_positions("identifiers").tolist() == [0, 2]
    assert t.enforcement["account_id"].tolist() == ["a", "c", "c"]
    assert t.enforcement["action"].tolist() == ["ban", "ban", "violation"]
    assert t.account_positions("enforcement").tolist() == [0, 2, 2]


def test_the_graph_does_not_depend_on_identifier_row_order():
    rows = [("a", "device", "d1"), ("b", "device", "d1"), ("a", "card", "c1"),
            ("b", "card", "c1"), ("c", "email", "e1"), ("a", "email", "e1")]
    one = build_graph(_tables(["a", "b", "c"], rows, []))
    two = build_graph(_tables(["a", "b", "c"], rows[::-1], []))
    pd.testing.assert_frame_equal(one.identifiers[["kind", "value"]],
                                  two.identifiers[["kind", "value"]])
    # a and b share a device and a card of equal weight: the same one is cited either way
    pd.testing.assert_frame_equal(one.pairs, two.pairs)
    pd.testing.assert_frame_equal(one.uses, two.uses)

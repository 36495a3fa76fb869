"""The text rule for ids, kinds and values: which characters are whitespace (stripped) and
which are control or invisible format characters (refused), for every code point."""

from __future__ import annotations

import pytest

import re
import sys
import unicodedata

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.graph.text import (INVISIBLE, clean_text, invisible_characters,
                                  strip_whitespace)

CODE_POINTS = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def test_invisible_is_unicode_cc_and_cf():
    pattern = re.compile(re.sub(r"\\x\{([0-9A-F]+)\}", lambda m: f"\\U{int(m[1], 16):08x}",
                                INVISIBLE))
    for c in CODE_POINTS:
        category = unicodedata.category(c)
        if category in ("Cc", "Cf"):
            assert pattern.fullmatch(c), hex(ord(c))
        elif category != "Cn":  # newer Unicode may add format characters
            assert not pattern.fullmatch(c), hex(ord(c))


@pytest.mark.slow  # every code point
def test_arrow_finds_the_same_characters_as_the_pattern():
    found = invisible_characters(pd.Series(["x" + c + "x" for c in CODE_POINTS]))
    expected = [unicodedata.category(c) in ("Cc", "Cf") for c in CODE_POINTS]
    assert [c for c, f, e in zip(CODE_POINTS, found, expected)
            if f != e and unicodedata.category(c) != "Cn"] == []


@pytest.mark.slow  # every code point
def test_arrow_whitespace_is_python_whitespace():
    arr = pa.array([c + "x" for c in CODE_POINTS])
    arrow = pc.not_equal(pc.utf8_trim_whitespace(arr), arr).to_numpy(zero_copy_only=False)
    assert [hex(ord(c)) for c, a in zip(CODE_POINTS, arrow) if a != c.isspace()] == []


def test_plain_ascii_skips_nothing_it_should_not():
    col, n = strip_whitespace(pd.Series(["a", "b c", "d"]))
    assert n == 0 and col.tolist() == ["a", "b c", "d"]
    col, n = strip_whitespace(pd.Series(["a", "b ", "\td"]))
    assert n == 2 and col.tolist() == ["a", "b", "d"]
    assert invisible_characters(pd.Series(["a", "b\x7fc", "d\x00"])).tolist() == [False, True,
                                                                                   True]


def test_clean_text_is_strip_then_invisible_characters():
    # padded, inside, both, neither; chunks with and without such bytes
    chunks = [["a", " b", "c\u200b", "\u00a0d\te "], ["plain", "x"], [], ["é", "ab\x7f"]]
    col = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.string())))
    s, n, bad = clean_text(col)
    stripped, n_strip = strip_whitespace(col)
    assert (s.tolist(), n) == (stripped.tolist(), n_strip) == (
        ["a", "b", "c\u200b", "d\te", "plain", "x", "é", "ab\x7f"], 2)
    assert bad.tolist() == invisible_characters(stripped).tolist() == \
        [False, False, True, True, False, False, False, True]
    ascii_only = pd.Series(["a", "b c", "d"])
    s, n, bad = clean_text(ascii_only)
    assert s is ascii_only and n == 0 and not bad.any()

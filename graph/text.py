"""Text cells of the input (ids, identifier kinds and values): one rule for every row.

Surrounding Unicode whitespace is stripped, whatever the other rows hold; control and
invisible format characters (Unicode Cc and Cf) are found so that validation can refuse
them. Both run in Arrow's compiled kernels, and are skipped when the raw UTF-8 bytes show
that no value can hold such characters (plain ASCII ids, the usual case).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.graph._arrow import _arrow

__all__ = ["INVISIBLE", "clean_text", "invisible_characters", "strip_whitespace"]

# Unicode categories Cc (controls: NUL, tab, line breaks, ESC) and Cf (invisible format
# characters: zero-width space and joiners, BOM, bidi overrides), as of Unicode 14
# (Python 3.11's unicodedata; tests/graph/test_text.py checks it against the running
# Python). Written out so that Arrow's RE2 and every Python agree on the same set.
INVISIBLE = "[" + "".join(
    f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b != a else "") for a, b in (
        (0x0, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
        (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E),
        (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
        (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
        (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
        (0xE0020, 0xE007F))) + "]"


def _may_hold(arr: pa.Array | pa.ChunkedArray) -> tuple[bool, bool]:
    """Whether some string may start or end with whitespace, and whether some may hold a
    control or format character, from the raw UTF-8 bytes: whitespace and those characters
    are ASCII controls, a space or multi-byte (>= 0x80), so ids that are plain ASCII (most
    of them) skip the string kernels."""
    padded = inside = False
    for c in (arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]):
        if not len(c):
            continue
        _, off_buf, data_buf = c.buffers()
        wide = pa.types.is_large_string(c.type)
        off = np.frombuffer(off_buf, np.int64 if wide else np.int32)
        off = off[c.offset:c.offset + len(c) + 1]
        if data_buf is None or off[-1] == off[0]:
            continue
        raw = np.frombuffer(data_buf, np.uint8)[off[0]:off[-1]]
        # two reductions, no per-byte mask: plain ASCII ids (the usual case) stop here
        if not (raw.min() <= 0x20 or raw.max() >= 0x7F):
            continue
        inside = True
        start, end = off[:-1] - off[0], off[1:] - off[0]
        full = end > start
        ends = np.concatenate([raw[start[full]], raw[end[full] - 1]])
        padded = padded or bool(((ends <= 0x20) | (ends >= 0x7F)).any())
    return padded, inside


def clean_text(col: pd.Series) -> tuple[pd.Series, int, np.ndarray]:
    """:func:`strip_whitespace` and :func:`invisible_characters` of the stripped column in one
    go: the raw bytes are scanned once for both (stripping removes only whitespace, so
    values without such bytes before have none after)."""
    padded, inside = _may_hold(_arrow(col))
    s, n = strip_whitespace(col, padded=padded)
    bad = invisible_characters(s, inside=inside)
    return s, n, bad


def strip_whitespace(col: pd.Series, *, padded: bool | None = None) -> tuple[pd.Series, int]:
    """``col`` without surrounding Unicode whitespace (space, tab, NBSP, ...) and how many
    values that changed: the same rule for every row, whatever the other rows hold.

    Examples
    --------
    >>> import pandas as pd
    >>> col, n = strip_whitespace(pd.Series(["a1\\t", "\\u00a0a2", "a 3"]))
    >>> col.tolist(), n
    (['a1', 'a2', 'a 3'], 2)
    """
    arr = _arrow(col)
    if not (_may_hold(arr)[0] if padded is None else padded):
        return col, 0
    # Arrow's whitespace is Python's str.isspace(): both passes strip the same characters
    changed = int(pc.sum(pc.not_equal(pc.utf8_trim_whitespace(arr), arr)).as_py() or 0)
    return (col.str.strip() if changed else col), changed


def invisible_characters(col: pd.Series, *, inside: bool | None = None) -> np.ndarray:
    """Which values of a string column hold a control or invisible format character.

    Examples
    --------
    >>> import pandas as pd
    >>> invisible_characters(pd.Series(["a1", "a\\u200b1", "a\\tb", "\\u00e9\\U0001f600"])).tolist()
    [False, True, True, False]
    """
    arr = _arrow(col)
    if not (_may_hold(arr)[1] if inside is None else inside):
        return np.zeros(len(col), bool)
    return pc.match_substring_regex(arr, INVISIBLE).to_numpy(zero_copy_only=False)

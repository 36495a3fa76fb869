"""Arrow helpers that turn integer codes into string and timestamp columns.

Columns are built in Arrow (vectorised, and it releases the GIL) and gathered
in chunks of :data:`CHUNK` rows so no string buffer comes near 2 GiB.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CHUNK", "to_str", "zero_padded", "concat_str", "take_chunked", "utc_timestamps"]

CHUNK = 4_000_000  # rows per Arrow chunk (keeps string buffers far from 2 GiB)


def to_str(values: np.ndarray | pa.Array) -> pa.Array:
    """Numbers (numpy or Arrow) as Arrow strings.

    Examples
    --------
    >>> to_str(np.array([7, 42])).to_pylist()
    ['7', '42']
    """
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    return pc.cast(arr, pa.string())


def zero_padded(values: np.ndarray, width: int) -> pa.Array:
    """Numbers as strings left-padded with zeros to ``width``.

    Examples
    --------
    >>> zero_padded(np.array([7, 42]), 4).to_pylist()
    ['0007', '0042']
    """
    return pc.utf8_lpad(to_str(values), width=width, padding="0")


def concat_str(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string arrays (and scalars).

    Examples
    --------
    >>> concat_str("acct_", zero_padded(np.array([3]), 3)).to_pylist()
    ['acct_003']
    """
    return pc.binary_join_element_wise(*parts, "")


def take_chunked(dictionary: pa.Array, idx: np.ndarray,
                 pool: ThreadPoolExecutor | None = None) -> pa.ChunkedArray:
    """``dictionary[idx]`` as a chunked array (string buffers stay small).

    With a ``pool`` the chunks are gathered in parallel (Arrow releases the GIL).

    Examples
    --------
    >>> take_chunked(pa.array(["a", "b"]), np.array([1, 1, 0])).to_pylist()
    ['b', 'b', 'a']
    """
    idx = np.asarray(idx, np.int64)
    if pa.types.is_string(dictionary.type):  # pandas keeps str columns as large_string
        dictionary = dictionary.cast(pa.large_string())
    if len(idx) == 0:
        return pa.chunked_array([pc.take(dictionary, pa.array(idx))])
    step = CHUNK if pool is None else CHUNK // 4

    def one(i: int) -> pa.Array:
        return pc.take(dictionary, pa.array(idx[i:i + step]))

    starts = range(0, len(idx), step)
    chunks = list(pool.map(one, starts)) if pool is not None and len(idx) > step \
        else [one(i) for i in starts]
    return pa.chunked_array(chunks)


def utc_timestamps(secs: np.ndarray) -> pa.Array:
    """Unix seconds -> Arrow ``timestamp[ns, UTC]``.

    Examples
    --------
    >>> utc_timestamps(np.array([0])).type
    TimestampType(timestamp[ns, tz=UTC])
    """
    return pa.array(np.asarray(secs, np.int64) * 1_000_000_000).view(pa.timestamp("ns", tz="UTC"))

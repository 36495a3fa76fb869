"""Hashing of large string columns in Arrow's compiled kernels, and numbers read from them.

pandas' ``duplicated``, ``isin``, ``get_indexer`` and ``groupby`` on
Arrow-backed strings convert to Python objects or hash row by row; on the
8.5 million identifier observations of a 1,000,000-account platform that cost
tens of seconds. These helpers return plain integer codes instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(values: pd.Series | pd.Index | np.ndarray) -> pa.Array | pa.ChunkedArray:
    # the chunks as they are: combining them would copy every string once more
    arr = values.array if isinstance(values, (pd.Series, pd.Index)) else values
    if isinstance(arr, pd.arrays.ArrowStringArray) or hasattr(arr, "_pa_array"):
        return arr._pa_array  # zero-copy view of the Arrow data
    if isinstance(arr, pd.Categorical):
        arr = np.asarray(arr)
    return pa.array(np.asarray(arr, dtype=object), type=pa.string(), from_pandas=True)


def _int64(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Integers with nulls as -1."""
    parts = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = [np.asarray(pc.fill_null(c, -1).to_numpy(zero_copy_only=False), np.int64)
           for c in parts]
    return np.concatenate(out) if out else np.empty(0, np.int64)


# above this many values, codes() encodes them in parts (see _codes_in_parts)
PART_ROWS = 4_000_000


def codes(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Integer code per value (first-seen order); missing values get -1."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    data = _arrow(values)
    if len(data) > PART_ROWS and (pa.types.is_string(data.type)
                                  or pa.types.is_large_string(data.type)):
        return _codes_in_parts(data, -(-len(data) // PART_ROWS))
    return _codes_one_table(data)


def _codes_one_table(data: pa.Array | pa.ChunkedArray) -> np.ndarray:
    enc = pc.dictionary_encode(data)
    if isinstance(enc, pa.ChunkedArray) and enc.num_chunks > 1:
        # Arrow encodes the chunks with one growing dictionary: the codes agree across
        # chunks when every chunk carries the final one (same length = same content)
        final = len(enc.chunks[-1].dictionary)
        if any(len(c.dictionary) != final for c in enc.chunks):
            enc = pc.dictionary_encode(data.combine_chunks())
    if isinstance(enc, pa.ChunkedArray):
        return _int64(pa.chunked_array([c.indices for c in enc.chunks], type=enc.type.index_type))
    return _int64(enc.indices)


def _part_keys(data: pa.Array | pa.ChunkedArray, n_parts: int) -> np.ndarray:
    """A number in ``[0, n_parts)`` per string from its length and its last (up to) eight
    bytes, read as one word straight from Arrow's buffers: equal strings, equal numbers.

    Which part a value lands in never shows in the codes (they are renumbered to first-seen
    order); one unaligned word read per string costs a third of reading four bytes
    one at a time."""
    chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
    out = []
    for c in chunks:
        _, off_buf, data_buf = c.buffers()
        wide = pa.types.is_large_string(c.type)
        off = np.frombuffer(off_buf, np.int64 if wide else np.int32)[c.offset:c.offset + len(c) + 1]
        raw = np.frombuffer(data_buf, np.uint8) if data_buf is not None and data_buf.size \
            else np.zeros(0, np.uint8)
        # the last word of a string may reach past the buffer's end: read a padded copy
        padded = np.zeros(len(raw) + 8, np.uint8)
        padded[:len(raw)] = raw
        words = np.ndarray(shape=(len(raw) + 1,), dtype="<u8", buffer=padded, strides=(1,))
        start = off[:-1].astype(np.int64)
        length = off[1:] - off[:-1]
        tail = np.minimum(length, 8).astype(np.uint64)  # bytes of the string in its last word
        word = words[start + np.maximum(length - 8, 0)]
        # keep the string's bytes only: the low ``tail`` bytes (all eight when tail is 8)
        word &= np.where(tail >= 8, np.uint64(2**64 - 1),
                         (np.uint64(1) << (np.minimum(tail, 7) * np.uint64(8))) - np.uint64(1))
        with np.errstate(over="ignore"):
            word ^= length.astype(np.uint64) * _GOLDEN
            word *= _GOLDEN
        out.append(((word >> np.uint64(33)) % np.uint64(n_parts)).astype(np.int64))
    return np.concatenate(out) if out else np.empty(0, np.int64)


def _codes_in_parts(data: pa.Array | pa.ChunkedArray, n_parts: int) -> np.ndarray:
    """:func:`codes` for many strings: the values are split into parts that cannot share a
    value (:func:`_part_keys`) and each part is encoded with a hash table of its own
    distinct values. One table for the 25.6 million identifier values of a 3,000,000-account
    platform added 2.65 GiB while loading; in parts the load peaked at 3.74 GiB instead of
    5.88. Codes are then renumbered to first-seen order, as one table gives."""
    n = len(data)
    key = _part_keys(data, n_parts).astype(np.int16 if n_parts < 2**15 else np.int64)
    order = np.argsort(key, kind="stable")  # rows of a part stay in their order
    bounds = np.searchsorted(key[order], np.arange(n_parts + 1))
    del key
    out = np.empty(n, np.int64)
    first = []  # per part: row of each code's first appearance
    offset = 0
    for p in range(n_parts):
        rows = order[bounds[p]:bounds[p + 1]]
        if not len(rows):
            continue
        part = _codes_one_table(data.take(pa.array(rows)))
        valid = part >= 0
        # a part's codes are numbered in order of first appearance within the part
        seen = np.flatnonzero(part > np.maximum.accumulate(np.r_[-1, part[:-1]]))
        first.append(rows[seen])
        out[rows] = np.where(valid, part + offset, -1)
        offset += len(seen)
        del part, valid
        pa.default_memory_pool().release_unused()
    first_row = np.concatenate(first) if first else np.empty(0, np.int64)
    # rank of each code's first row among all first rows, without sorting them
    mark = np.zeros(n, bool)
    mark[first_row] = True
    rank = (np.cumsum(mark) - 1)[first_row]
    return np.where(out >= 0, rank[np.maximum(out, 0)], -1)


_DECIMAL = r"^[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|(?i:inf|infinity|nan))$"


def text_to_float(s: pd.Series) -> np.ndarray | None:
    """Numeric text as float64, exactly as ``pd.to_numeric(s).astype(float)`` reads it, by
    Arrow's casts (``to_numeric`` on the 2.25 million weights and amounts of a
    1,000,000-account platform's edges was 8% of loading); ``None`` when pandas must
    decide: a cell Arrow does not cast (empty, padded), a long mantissa (rounding), a
    negative zero.

    Examples
    --------
    >>> text_to_float(pd.Series(["1", "2.5", "1e3"], dtype="str")).tolist()
    [1.0, 2.5, 1000.0]
    >>> print(text_to_float(pd.Series(["1", ""], dtype="str")))
    None
    """
    arr = _arrow(s)
    if not len(arr) or (pc.max(pc.utf8_length(arr)).as_py() or 0) > 18 \
            or not pc.all(pc.match_substring_regex(arr, _DECIMAL)).as_py():  # not '0x10'
        return None
    for kind in (pa.int64(), pa.float64()):  # integers first: '-0' is 0 for pandas
        try:
            out = pc.cast(arr, kind).to_numpy(zero_copy_only=False).astype(np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return None if (np.signbit(out) & (out == 0)).any() else out
    return None


def positions(values: pd.Series | np.ndarray, index_values: pd.Index | np.ndarray) -> np.ndarray:
    """Position of each value in ``index_values`` (-1 where absent), like ``Index.get_indexer``."""
    index = _arrow(index_values)
    if isinstance(index, pa.ChunkedArray):
        index = index.combine_chunks()  # the value set must be one array
    return _int64(pc.index_in(_arrow(values), value_set=index))


def column_key(s: pd.Series) -> tuple | None:
    """What identifies a column's current contents: its array and, for Arrow data, the
    immutable Arrow array behind it (a write into the column replaces that one).
    ``None`` when the data could change in place (then nothing may be cached for it)."""
    arr = s.array
    data = getattr(arr, "_pa_array", None)
    return None if data is None else (arr, data)


def same_column(key: tuple | None, s: pd.Series) -> bool:
    now = column_key(s)
    return key is not None and now is not None and key[0] is now[0] and key[1] is now[1]


def duplicated_rows(df: pd.DataFrame, known_codes: dict[str, np.ndarray] | None = None
                    ) -> np.ndarray:
    """Boolean mask of rows that repeat an earlier row exactly (all columns).

    ``known_codes`` maps column names to dense non-negative integer codes
    already computed for them (equal values, equal codes), saving a hash pass.
    """
    known_codes = known_codes or {}
    cols = []  # one int64 array per column: equal values, equal integers
    for col in df.columns:
        s = df[col]
        if col in known_codes:
            cols.append(np.asarray(known_codes[col], dtype=np.int64))
        elif pd.api.types.is_datetime64_any_dtype(s):
            cols.append(s.array.asi8 if hasattr(s.array, "asi8") else s.to_numpy().view("i8"))
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            cols.append(s.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min))
        elif pd.api.types.is_float_dtype(s):
            cols.append(np.nan_to_num(s.to_numpy(dtype=float), nan=np.inf).view(np.int64))
        else:
            cols.append(codes(s.astype("str") if s.dtype == object else s))
    out = np.zeros(len(df), bool)
    if len(df) < 2 or not cols:
        return out
    # rows with a unique 64-bit hash cannot repeat anything: only rows whose hash repeats
    # go through the exact comparison (sorting hashes is far cheaper than a hash table)
    h = _row_hashes(cols)
    s = np.sort(h)
    rep = np.unique(s[1:][s[1:] == s[:-1]])
    if not len(rep):
        return out
    pos = np.minimum(np.searchsorted(rep, h), len(rep) - 1)
    cand = np.flatnonzero(rep[pos] == h)
    out[cand] = _exact_duplicated([c[cand] for c in cols])
    return out


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (every input bit affects every output bit) into a new array.

    One new array and one scratch array, then in place: the plain expression
    allocated seven temporaries of the input's size (8.6 million hashes per call
    on a 1,000,000-account platform's identifier observations)."""
    t = h >> _S30
    out = np.bitwise_xor(h, t)
    with np.errstate(over="ignore"):
        out *= _M1
        np.right_shift(out, _S27, out=t)
        out ^= t
        out *= _M2
    np.right_shift(out, _S31, out=t)
    out ^= t
    return out


def _row_hashes(cols: list[np.ndarray]) -> np.ndarray:
    h = np.zeros(len(cols[0]), np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            h *= _GOLDEN  # in place: h is this function's own array
            h += np.asarray(c, np.int64).view(np.uint64)
            h = _mix(h)
    return h


def _exact_duplicated(cols: list[np.ndarray]) -> np.ndarray:
    """Rows equal to an earlier row in every column (columns of int64 codes)."""
    # fold the columns into one dense int64 key (mixed radix), renumbering when it would
    # overflow; one int64 hash table is far cheaper than pandas' multi-column duplicated
    key = np.zeros(len(cols[0]), np.int64)
    for part in cols:
        c = pd.factorize(part)[0].astype(np.int64)
        k = int(c.max()) + 1
        key = pd.factorize(key * k + c)[0].astype(np.int64) if len(key) else key
    return pd.Series(key).duplicated().to_numpy()

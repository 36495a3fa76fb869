"""Hashing of large string columns in Arrow's compiled kernels.

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


def _arrow(values: pd.Series | pd.Index | np.ndarray) -> pa.Array:
    arr = values.array if isinstance(values, (pd.Series, pd.Index)) else values
    if isinstance(arr, pd.arrays.ArrowStringArray) or hasattr(arr, "_pa_array"):
        out = arr._pa_array  # zero-copy view of the Arrow data
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
    if isinstance(arr, pd.Categorical):
        arr = np.asarray(arr)
    return pa.array(np.asarray(arr, dtype=object), type=pa.string(), from_pandas=True)


def codes(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Integer code per value (first-seen order); missing values get -1."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    enc = pc.dictionary_encode(_arrow(values))
    idx = enc.indices.to_numpy(zero_copy_only=False)
    if enc.null_count:
        idx = np.where(np.isnan(idx), -1, idx)
    return np.asarray(idx, dtype=np.int64)


def positions(values: pd.Series | np.ndarray, index_values: pd.Index | np.ndarray) -> np.ndarray:
    """Position of each value in ``index_values`` (-1 where absent), like ``Index.get_indexer``."""
    out = pc.index_in(_arrow(values), value_set=_arrow(index_values))
    res = out.to_numpy(zero_copy_only=False)
    if out.null_count:
        res = np.where(np.isnan(res), -1, res)
    return np.asarray(res, dtype=np.int64)


def duplicated_rows(df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of rows that repeat an earlier row exactly (all columns)."""
    parts = {}
    for i, col in enumerate(df.columns):
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            ns = s.array.asi8 if hasattr(s.array, "asi8") else s.to_numpy().view("i8")
            nat = ns == np.iinfo(np.int64).min
            # whole seconds (the usual case) span a narrow range: no hashing needed
            if not (ns[~nat] % 10**9).any():
                ns = np.where(nat, -1, ns // 10**9)
            parts[i] = ns
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            parts[i] = s.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
        elif pd.api.types.is_float_dtype(s):
            parts[i] = np.nan_to_num(s.to_numpy(dtype=float), nan=np.inf).view(np.int64)
        else:  # already dense codes: no factorize needed below
            parts[i] = (codes(s.astype("str") if s.dtype == object else s) + 1, True)
    # fold the columns into one dense int64 key (mixed radix), renumbering when it would
    # overflow; one int64 hash table is far cheaper than pandas' multi-column duplicated
    key = np.zeros(len(df), np.int64)
    span = 1
    for part in parts.values():
        if isinstance(part, tuple):
            c = part[0]
        elif len(part) and 0 <= int(part.max()) - int(part.min()) < 2**32 \
                and int(part.min()) > np.iinfo(np.int64).min:
            c = part - part.min()  # a narrow integer range is its own code
        else:
            c = pd.factorize(part)[0].astype(np.int64)
        k = int(c.max()) + 1 if len(c) else 1
        if span > (2**62) // max(k, 1):
            key = pd.factorize(key)[0].astype(np.int64)
            span = int(key.max()) + 1 if len(key) else 1
        key = key * k + c
        span *= k
    return pd.Series(key).duplicated().to_numpy()

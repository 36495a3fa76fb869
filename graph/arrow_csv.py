"""Reading a CSV or gzip CSV file with Arrow's multi-threaded CSV reader.

The fast path of :func:`ringfence.graph.reading.read_table`: Arrow decompresses,
checks UTF-8 and parses in one streaming pass on every CPU the process may use
(:func:`~ringfence.graph.cpus.thread_budget`), where pandas needed the whole file
decompressed in Python, decoded once more to check UTF-8 and parsed on one core.

It must give exactly the table pandas' parser gives, so it only answers when it is
sure: :func:`read_csv_arrow` returns ``None`` whenever Arrow refuses the file (a
row longer or shorter than the header, an unclosed quote, text that is not UTF-8, a
corrupt gzip stream) or the file is unusual in a way the two parsers might read
differently (a repeated column name, a header beyond the first MiB, an accounts
attribute column whose type pandas would infer differently). The caller then reads
the file the old way, which also finds the exact line to show.

Accounts attribute columns are read as text and typed here by pandas' rules (see
:func:`infer_like_pandas`): numbers in every cell are ``int64`` (``float64`` with
missing cells), decimals ``float64``, ``True``/``False`` words ``bool``, anything
else text; ``""``, ``NA``, ``NaN``, ``nan`` and ``null`` are missing (:data:`NA_TEXT`).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ringfence.graph.cpus import thread_budget

__all__ = ["NA_TEXT", "header_names", "infer_like_pandas", "read_csv_arrow"]

#: cell texts read as missing in accounts attribute columns (pandas' ``na_values`` here)
NA_TEXT = ("", "NA", "NaN", "nan", "null")
_HEADER_BYTES = 1 << 20
# Arrow's default (1 MiB) leaves two threads waiting on each other: 8 MiB blocks were
# 10-15% faster on the 1,000,000-account identifiers file (0.9 GB of text)
_BLOCK_BYTES = 8 << 20

_INT = r"-?[0-9]{1,18}"  # 19 digits may not fit int64: pandas then tries uint64
_FLOAT = r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"
_TRUE, _FALSE = ("True", "TRUE", "true"), ("False", "FALSE", "false")
# what any of pandas' number, boolean or missing-value readers could accept; a cell
# outside this makes the column text for pandas too
_MAYBE_NOT_TEXT = r"(?i)\s*[-+]?([0-9._,eE+\-]*|inf|infinity|nan|true|false)\s*"


def header_names(path: Path, gzipped: bool) -> list[str] | None:
    """The header record's cells, as written, or ``None`` when it cannot be read
    cheaply (no line end in the first MiB, not UTF-8, no header at all).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_bytes(b'\\xef\\xbb\\xbfaccount_id,"created, at"\\r\\na1,2025\\r\\n')
    >>> header_names(p, gzipped=False)
    ['account_id', 'created, at']
    """
    try:
        with (gzip.open if gzipped else open)(path, "rb") as f:
            head = f.read(_HEADER_BYTES)
    except (OSError, EOFError):
        return None
    head = head.removeprefix(b"\xef\xbb\xbf")
    end = head.rfind(b"\n")
    if end < 0 or not head[:end].strip():
        return None
    try:
        text = head[:end + 1].decode("utf-8")
        return next(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None


def _arrow_threads() -> bool:
    """Size Arrow's CPU pool by :func:`thread_budget` (Arrow counts the machine's cores,
    not the cgroup's quota or ``--threads``); whether to use threads at all."""
    n = thread_budget()
    if pa.cpu_count() != n:
        pa.set_cpu_count(n)
    return n > 1


def _all(mask: pa.ChunkedArray | pa.Array) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def infer_like_pandas(col: pa.ChunkedArray) -> pd.Series | None:
    """The column pandas' CSV parser makes of these cells (``na_values=NA_TEXT``,
    ``keep_default_na=False``), or ``None`` when it is not sure to match it.

    Examples
    --------
    >>> import pyarrow as pa
    >>> [str(infer_like_pandas(pa.chunked_array([v])).dtype) for v in
    ...  (["1", "2"], ["1", ""], ["1", "2.5"], ["true", "False"], ["de", "NA"])]
    ['int64', 'float64', 'float64', 'bool', 'str']
    >>> print(infer_like_pandas(pa.chunked_array([[" 1", "2"]])))  # pandas reads ' 1' as 1
    None
    """
    na = pc.is_in(col, value_set=pa.array(NA_TEXT))
    given = pc.filter(col, pc.invert(na))
    any_na = len(given) < len(col)
    if len(given) == 0:
        return pd.Series(np.full(len(col), np.nan)) if len(col) else None
    if _all(pc.match_substring_regex(given, f"^{_INT}$")):
        values = pc.cast(pc.if_else(na, None, col), pa.int64())
        return pd.Series(values.to_numpy(zero_copy_only=False).astype(
            np.float64 if any_na else np.int64))
    if _all(pc.match_substring_regex(given, f"^{_FLOAT}$")) \
            and int(pc.max(pc.utf8_length(given)).as_py()) <= 18:  # beyond: rounding may differ
        values = pc.cast(pc.if_else(na, None, col), pa.float64())
        return pd.Series(values.to_numpy(zero_copy_only=False))
    if not any_na and _all(pc.is_in(given, value_set=pa.array(_TRUE + _FALSE))):
        return pd.Series(pc.is_in(col, value_set=pa.array(_TRUE)).to_numpy(
            zero_copy_only=False))
    if _all(pc.match_substring_regex(given, f"^{_MAYBE_NOT_TEXT}$")):
        return None  # padded numbers, 'inf', '+5', '1,5', booleans with gaps: pandas decides
    return pd.Series(pc.if_else(na, None, col), dtype="str")


def read_csv_arrow(path: Path, gzipped: bool, text: Collection[str] | None = None
                   ) -> pd.DataFrame | None:
    """The file's cells as text, or ``None`` if the slower parser must decide.

    With ``text``, only the columns named there (after stripping the header's
    spaces) are text; the others are typed as pandas would (:func:`infer_like_pandas`).

    Raises nothing for a bad file: every refusal is a ``None``, and the caller's
    parser then names the problem and its line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text('account_id,n\\na1,3\\n"a,2",4\\n')
    >>> read_csv_arrow(p, gzipped=False, text=["account_id"]).to_dict("list")
    {'account_id': ['a1', 'a,2'], 'n': [3, 4]}
    >>> _ = p.write_text('account_id,n\\na1\\n')  # a short row: pandas fills in a missing value
    >>> print(read_csv_arrow(p, gzipped=False))
    None
    """
    names = header_names(path, gzipped)
    if names is None or len(set(names)) < len(names) \
            or len({n.strip() for n in names}) < len(names):
        return None
    stripped = [n.strip() or f"Unnamed: {i}" for i, n in enumerate(names)]
    typed = {raw for raw, name in zip(names, stripped) if text is not None and name not in text}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=_arrow_threads(),
                                           block_size=_BLOCK_BYTES),
            # a quoted cell may hold a line break (a ban reason, an address)
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                check_utf8=True))
    except (pa.ArrowException, OSError, EOFError):
        return None
    if table.column_names != names:
        return None
    keep = [n for n in names if n not in typed]
    out = table.select(keep).to_pandas() if keep \
        else pd.DataFrame(index=pd.RangeIndex(table.num_rows))  # text: zero-copy str columns
    for name in typed:
        inferred = infer_like_pandas(table.column(name))
        if inferred is None:
            return None
        out[name] = inferred
    out = out[names]
    out.columns = stripped
    return out

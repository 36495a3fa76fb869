"""Reading one input table from a file (CSV, gzip CSV or Parquet) into raw values.

Validation is :mod:`ringfence.graph.tables`' job; this module only refuses files
that cannot be read at all (missing, empty, not what their extension says, not
UTF-8), with the same :class:`~ringfence.graph.problems.InputError`.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pandas as pd

from ringfence.graph.problems import InputError, Problem

__all__ = ["file_kind", "read_table"]


def file_kind(path: Path) -> str:
    """``"csv"``, ``"csv.gz"`` or ``"parquet"`` by the file name's extension; ``""`` if none."""
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        return "csv.gz"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    return ""


def _sniff(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(4)


def _first_bad_utf8_line(raw: bytes) -> tuple[int, str]:
    for i, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            return i, repr(line[max(0, e.start - 20): e.start + 20])
    return 0, ""


def read_table(source: str | os.PathLike | pd.DataFrame, table: str) -> pd.DataFrame:
    """Read one table file into a DataFrame of raw values (no validation).

    CSV columns are read as strings except the attribute columns of
    ``accounts``, whose types are inferred. Raises :class:`InputError` for
    files that are missing, empty, not what their extension says, or not UTF-8.
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)  # problems are reported by row position
    path = Path(source)
    label = str(path)

    def fail(message: str, examples: list[str] | None = None) -> InputError:
        return InputError([Problem(table, label, None, message, 0, examples or [])])

    if not path.exists():
        raise fail("file not found")
    if path.is_dir():
        raise fail("is a directory, expected a file")
    kind = file_kind(path)
    if not kind:
        raise fail("unknown file type: use .csv, .csv.gz or .parquet")
    if path.stat().st_size == 0:
        raise fail("file is empty (0 bytes)")
    magic = _sniff(path)
    is_gzip, is_parquet = magic[:2] == b"\x1f\x8b", magic == b"PAR1"
    if kind == "parquet":
        if not is_parquet:
            what = "gzip" if is_gzip else "text" if magic[:1].isascii() else "something else"
            raise fail(f"not a Parquet file (it looks like {what}); the extension says .parquet")
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise fail(f"cannot read Parquet file: {e}") from None
    if kind == "csv.gz" and not is_gzip:
        raise fail("not a gzip file; the extension says .csv.gz")
    if kind == "csv" and (is_gzip or is_parquet):
        raise fail(f"looks like {'gzip' if is_gzip else 'Parquet'}, not CSV text; "
                   "rename it with the right extension")
    opener = gzip.open if kind == "csv.gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise fail(f"cannot decompress: {e}") from None
    if not raw.strip():
        raise fail("file is empty (no header, no rows)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        line, snippet = _first_bad_utf8_line(raw)
        raise fail("not UTF-8 text: save the file as UTF-8",
                   [f"line {line}: {snippet}"]) from None
    header = pd.read_csv(io.BytesIO(raw), nrows=0).columns
    header = [str(c).strip() for c in header]
    string_cols = header if table != "accounts" else [
        c for c in header if c in ("account_id", "created_at")]
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype={c: str for c in string_cols},
                         keep_default_na=False, na_values={
                             c: ["", "NA", "NaN", "nan", "null"] for c in header
                             if c not in string_cols}, low_memory=False)
    except (pd.errors.ParserError, ValueError) as e:
        raise fail(f"cannot parse CSV: {e}") from None
    df.columns = header
    return df

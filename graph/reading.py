"""Reading one input table from a file (CSV, gzip CSV or Parquet) into raw values.

Validation is :mod:`ringfence.graph.tables`' job; this module only refuses files
that cannot be read at all (missing, empty, not what their extension says, not
UTF-8, not well-formed CSV, a column named twice), with the same
:class:`~ringfence.graph.problems.InputError`.

CSV is read by Arrow's multi-threaded reader (:mod:`ringfence.graph.arrow_csv`);
when Arrow refuses a file, or might read it otherwise than pandas, pandas' parser
reads it as before and, for a bad file, finds the line to show.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ringfence.graph.arrow_csv import NA_TEXT, read_csv_arrow
from ringfence.graph.problems import InputError, Problem

__all__ = ["checked_kind", "duplicated_columns", "file_kind", "read_table"]


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


def duplicated_columns(table: str, source: str, names: list[str]) -> list[Problem]:
    """One :class:`Problem` per column name that appears more than once in ``names``.

    Examples
    --------
    >>> [str(p) for p in duplicated_columns("accounts", "a.csv", ["account_id", "x", "account_id"])]
    ["a.csv, column 'account_id': column appears more than once in the header (columns 1 and 3)"]
    """
    index = pd.Index(names)
    out = []
    for name in index[index.duplicated()].unique():
        where = " and ".join(str(i + 1) for i in (index == name).nonzero()[0])
        out.append(Problem(table, source, name,
                           f"column appears more than once in the header (columns {where})"))
    return out


_EXTRA_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_SHOWN_CHARS = 120


def _record_lines(text: str, record: int) -> tuple[int, int]:
    """The physical lines (1-based, first and last) of CSV record ``record`` (0 = the header).

    pandas numbers records, not lines (a quoted cell may span lines); Python's csv
    module reads the same records and knows their lines. Only called for a file that
    is already refused, so the loop over records costs nothing on good input.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0
    try:
        for i, _ in enumerate(reader):
            if i == record:
                return end + 1, reader.line_num
            end = reader.line_num
    except csv.Error:  # a record Python's csv cannot read either: the line reached
        pass
    return end + 1, end + 1


def _parse_problem(raw: bytes, table: str, label: str, error: Exception) -> InputError:
    """An :class:`InputError` for a CSV the parser rejects: the line and its text."""
    text = raw.decode("utf-8")
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    record = None
    if m := _EXTRA_FIELDS.search(message):
        record = int(m.group(2)) - 1
        message = f"a row has {m.group(3)} fields, the header has {m.group(1)}"
    elif m := _OPEN_QUOTE.search(message):
        record = int(m.group(1))
        message = "a quote (\") is opened and never closed"
    elif isinstance(error, pd.errors.ParserWarning):
        record = 1  # pandas only warns (and drops cells) for the first data row
        message = "the first row has more fields than the header"
    examples = []
    if record is not None:
        line, last = _record_lines(text, record)
        shown = "\n".join(text.split("\n", last)[line - 1:last])
        cut = shown[:_SHOWN_CHARS] + ("..." if len(shown) > _SHOWN_CHARS else "")
        examples = [f"line {line}: {cut!r}"]
    return InputError([Problem(table, label, None,
                               f"cannot parse CSV: {message} (quote cells that hold "
                               "commas, quotes or line breaks, and double their quotes)",
                               0, examples)])


def _read_csv(raw: bytes, table: str, label: str) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # a first data row longer than the header is only a warning (cells dropped)
            warnings.simplefilter("error", pd.errors.ParserWarning)
            first = pd.read_csv(io.BytesIO(raw), header=None, nrows=1, dtype=str,
                                keep_default_na=False, index_col=False)
            # pandas renames a repeated name ('account_id.1'): read the names as they are
            header = [str(c).strip() or f"Unnamed: {i}" for i, c in enumerate(first.iloc[0])]
            if problems := duplicated_columns(table, label, header):
                raise InputError(problems)
            string_cols = header if table != "accounts" else [
                c for c in header if c in ("account_id", "created_at")]
            return pd.read_csv(io.BytesIO(raw), header=0, names=header, index_col=False,
                               dtype={c: str for c in string_cols}, keep_default_na=False,
                               na_values={c: list(NA_TEXT) for c in header
                                          if c not in string_cols}, low_memory=False)
    except InputError:
        raise
    except (pd.errors.ParserError, pd.errors.ParserWarning, csv.Error) as e:
        raise _parse_problem(raw, table, label, e) from None
    except ValueError as e:  # pandas' other complaints about a malformed file
        raise InputError([Problem(table, label, None, f"cannot parse CSV: {e}")]) from None


def checked_kind(path: Path, table: str) -> str:
    """The kind of one input file (``"csv"``, ``"csv.gz"`` or ``"parquet"``), checked.

    Raises :class:`InputError` naming the file when it is missing, a directory, of
    an unknown type, empty, or not what its extension says (its first bytes are
    read: gzip, Parquet or text). Both engines check their input files with it.

    Examples
    --------
    >>> checked_kind(Path("no-such-file.csv"), "accounts")
    Traceback (most recent call last):
    ...
    ringfence.graph.problems.InputError: 1 problem in the input:
    - no-such-file.csv: file not found
    """
    label = str(path)

    def fail(message: str) -> InputError:
        return InputError([Problem(table, label, None, message, 0, [])])

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
    if kind == "parquet" and not is_parquet:
        what = "gzip" if is_gzip else "text" if magic[:1].isascii() else "something else"
        raise fail(f"not a Parquet file (it looks like {what}); the extension says .parquet")
    if kind == "csv.gz" and not is_gzip:
        raise fail("not a gzip file; the extension says .csv.gz")
    if kind == "csv" and (is_gzip or is_parquet):
        raise fail(f"looks like {'gzip' if is_gzip else 'Parquet'}, not CSV text; "
                   "rename it with the right extension")
    return kind


def read_table(source: str | os.PathLike | pd.DataFrame, table: str) -> pd.DataFrame:
    """Read one table file into a DataFrame of raw values (no validation).

    CSV columns are read as strings except the attribute columns of
    ``accounts``, whose types are inferred. Raises :class:`InputError` for
    files that are missing, empty, not what their extension says, not UTF-8,
    not well-formed CSV (an unclosed quote, a row longer than the header: the
    line and its text are shown), or that name a column twice.
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)  # problems are reported by row position
    path = Path(source)
    label = str(path)

    def fail(message: str, examples: list[str] | None = None) -> InputError:
        return InputError([Problem(table, label, None, message, 0, examples or [])])

    kind = checked_kind(path, table)
    if kind == "parquet":
        try:
            names = pq.read_schema(path).names
            if problems := duplicated_columns(table, label, [str(c).strip() for c in names]):
                raise InputError(problems)
            return pd.read_parquet(path)
        except InputError:
            raise
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise fail(f"cannot read Parquet file: {e}") from None
    fast = read_csv_arrow(path, kind == "csv.gz",
                          text=("account_id", "created_at") if table == "accounts" else None)
    if fast is not None:
        return fast
    # Arrow refused the file, or it is unusual: pandas' parser decides and names the line
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
    return _read_csv(raw, table, label)

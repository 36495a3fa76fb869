"""The decisions log on disk: appended one row at a time, never rewritten.

``ringfence decide`` appends one dated row (:func:`append_decision`); ``flag
--decisions`` reads the log under a shared lock (:func:`reading_log`) and records
how many bytes it read and their sha256, so that a later run or a case report can
read exactly the log that run saw (:func:`read_logged`), however many rows were
appended since.

The log is a CSV file (UTF-8, header ``at,account_id,decision,by,reason``, CRLF line
ends) with the run folders' rule against formula injection: a text cell starting with
``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a quote gets a quote in front,
and reading removes exactly one.

Examples
--------
>>> import tempfile, pandas as pd
>>> log = Path(tempfile.mkdtemp()) / "decisions.csv"
>>> append_decision(log, "acct_1", "cleared", reason="=HYPERLINK(x)", by="ana",
...                 at=pd.Timestamp("2026-03-01", tz="UTC"))
>>> print(log.read_text().strip())
at,account_id,decision,by,reason
2026-03-01T00:00:00Z,acct_1,cleared,ana,'=HYPERLINK(x)
>>> with reading_log(log) as record:
...     record["rows"]
1
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ringfence.graph.decisions import LOG_COLUMNS
from ringfence.jobs.runs import _FORMULA_STARTS

__all__ = ["LogError", "append_decision", "reading_log", "read_logged", "logged_digest"]

_HEADER = ",".join(LOG_COLUMNS)


class LogError(ValueError):
    """The decisions log cannot be appended to (not ours, damaged); one line."""


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue().encode("utf-8")


def append_decision(log: str | os.PathLike, account_id: str, decision: str, *, reason: str,
                    by: str, at: pd.Timestamp) -> None:
    """Append one decision to ``log`` (created with its header when absent).

    The row is written with one ``write`` on a file opened ``O_APPEND``, under an
    exclusive ``flock``, then flushed to disk: two reviewers deciding at once both
    land, one row after the other, and the file is never rewritten. A log whose
    header is not the decisions header, or whose last line is unfinished, is refused
    (:class:`LogError`). Values are written as given: the caller validates them.
    """
    path = Path(log)
    stamp = at.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{at.microsecond:06d}Z" if at.microsecond else "Z")
    row = _row([stamp, _cell(account_id), decision, _cell(by), _cell(reason)])
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size == 0:
            row = _row(list(LOG_COLUMNS)) + row
        else:
            head = os.pread(fd, len(_HEADER) + 2, 0).decode("utf-8", "replace")
            if head.removeprefix("\ufeff").splitlines()[0:1] != [_HEADER]:
                raise LogError(f"{path}: not a decisions log (its first line should be "
                               f"{_HEADER}); give another --log")
            if os.pread(fd, 1, size - 1) != b"\n":
                raise LogError(f"{path}: the last line is unfinished (edited by hand?); end "
                               "it with a line break first")
        os.write(fd, row)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def logged_digest(data: bytes) -> dict[str, Any]:
    """What run.json records of the log a run read: bytes, sha256 and rows."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "rows": max(data.count(b"\n") - 1, 0), "append_only": True}


@contextlib.contextmanager
def reading_log(log: str | os.PathLike | None) -> Iterator[dict[str, Any]]:
    """Hold a shared lock on the log while it is read; yields :func:`logged_digest` of
    its bytes (empty when there is no log file: loading then reports it)."""
    if log is None or not Path(log).is_file():
        yield {}
        return
    with open(log, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        yield logged_digest(f.read())


def _prefix(path: Path, record: dict[str, Any]) -> bytes | None:
    """The log's first ``record['bytes']`` bytes when their sha256 is the recorded one."""
    with open(path, "rb") as f:
        data = f.read(int(record.get("bytes", 0)))
    return data if hashlib.sha256(data).hexdigest() == record.get("sha256") else None


def read_logged(path: str | os.PathLike, record: dict[str, Any]) -> pd.DataFrame | None:
    """The decisions a run read (raw cells, quotes removed), or None when the log's start
    is no longer what the run read (it was rewritten: only appending keeps it)."""
    path = Path(path)
    data = _prefix(path, record) if path.is_file() else None
    if data is None:
        return None
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    for col in ("account_id", "by", "reason"):
        if col in df.columns:
            hit = df[col].str.startswith("'").to_numpy(bool)
            df[col] = df[col].mask(hit, df[col][hit].str.slice(1))
    return df

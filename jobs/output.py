"""Writing job outputs atomically, and reading them back.

A job writes every table into a fresh temporary directory next to the
destination, then swaps it into place; a run that fails half-way leaves the
previous outputs untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

FORMATS = ("parquet", "csv")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_table(df: pd.DataFrame, directory: Path, name: str, fmt: str) -> Path:
    if fmt == "parquet":
        path = directory / f"{name}.parquet"
        df.to_parquet(path, index=False)
    elif fmt == "csv":
        path = directory / f"{name}.csv"
        df.to_csv(path, index=False)
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    return path


def write_json(obj: object, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str, sort_keys=False) + "\n",
                    encoding="utf-8")


@contextmanager
def atomic_directory(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``out_dir`` whole.

    On an exception the temporary directory is removed and ``out_dir`` is left
    as it was.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_output(directory: str | os.PathLike, name: str) -> pd.DataFrame:
    """Read table ``name`` from a job's output directory, whichever format it was written in."""
    d = Path(directory)
    for ext, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        p = d / f"{name}{ext}"
        if p.exists():
            return reader(p)
    raise FileNotFoundError(f"{d}: no {name}.parquet or {name}.csv (is this a flag job's --out?)")

"""Atomic writes: readers see the old file (or folder) or the new one, never half of one.

Every file ringfence writes goes through :func:`atomic_file` (one file) or
:func:`atomic_directory` (a job's output folder). Both write to a temporary
name next to the destination and move it into place with :func:`os.replace`
(a folder: with an atomic exchange, under a lock on the folder); on an
exception the temporary copy is removed and the destination is left as it
was. New files and folders get the usual permissions (``0666``/``0777`` less
the umask), not the ``0600``/``0700`` of :mod:`tempfile`.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_file(d / "note.txt") as tmp:
...     _ = tmp.write_text("hello")
>>> (d / "note.txt").read_text()
'hello'
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_file", "atomic_directory", "write_json", "file_sha256", "umask"]


def umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    The caller writes the temporary path (by name: any library that takes a
    path works). ``fsync=True`` flushes it to disk before the move, for files
    a person may open right after a crash (case reports).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``out_dir`` whole.

    While the block runs and until the swap is done, an exclusive lock
    (:func:`fcntl.flock` on ``.NAME.lock`` next to the folder) is held, so a
    second writer of the same folder waits, then writes and swaps in its own
    result. On taking the lock, leftovers of killed runs (``.NAME.tmp-*``,
    ``.NAME.old-*``) are removed: holding the lock proves no live writer owns
    them. The new folder gets ``0777`` less the umask, as :func:`os.mkdir`
    would give, not the ``0700`` of :func:`tempfile.mkdtemp`.

    The swap is one ``renameat2(RENAME_EXCHANGE)`` (Linux, through ctypes), so
    ``out_dir`` exists at every moment; the old folder, now at the temporary
    name, is removed afterwards. Where the exchange is unavailable (another
    OS, a file system without it) it falls back to two renames, between which
    ``out_dir`` is briefly missing. On an exception the temporary directory is
    removed and ``out_dir`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_directory(d / "run") as tmp:
    ...     _ = (tmp / "a.csv").write_text("x")
    >>> sorted(p.name for p in d.iterdir())
    ['run']
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    with _exclusive_lock(out.parent / f".{out.name}.lock"):
        _remove_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            os.chmod(tmp, 0o777 & ~umask())
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if out.exists():
            old = _exchange(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (created if missing); removed on release.

    The holder unlinks the file before unlocking, so a waiter may end up
    holding a lock on a file no longer at ``path``: it checks, after locking,
    that ``path`` is still the file it locked, and starts again if not.
    """
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                now = os.stat(path)
                current = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            break
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _remove_leftovers(out: Path) -> None:
    """Remove temporary and old folders of ``out`` that killed runs left behind."""
    for pattern in (f".{out.name}.tmp-*", f".{out.name}.old-*"):
        for p in out.parent.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@cache
def _renameat2() -> Callable[..., int] | None:
    """libc's ``renameat2``, or None where the C library has none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(new: Path, out: Path) -> Path:
    """Put ``new`` at ``out``; returns where the old ``out`` now is (to be removed)."""
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(out), _RENAME_EXCHANGE) == 0:
            return new
        err = ctypes.get_errno()
        # EINVAL: the file system cannot exchange; ENOSYS: the kernel cannot
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), str(out))
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.replace(out, old)
    os.replace(new, out)
    return old


def write_json(obj: object, path: str | os.PathLike) -> Path:
    """``obj`` as indented JSON (non-JSON values as ``str``), written atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str, sort_keys=False) + "\n",
                       encoding="utf-8")
    return Path(path)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

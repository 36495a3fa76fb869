"""Memory: handing freed buffers back to the system between stages, or keeping them
for reuse while the process is small (:func:`keep_freed_below`, set by the command line)."""

from __future__ import annotations

import os

__all__ = ["release_freed_memory", "keep_freed_below", "resident_bytes"]

# mallopt(3) parameters (malloc.h) and glibc's default of the first
M_MMAP_MAX = -4
DEFAULT_MMAP_MAX = 65536


def release_freed_memory() -> None:
    """Hand freed buffers back to the system: Arrow's and the C allocator's.

    Arrow's allocator keeps freed memory for reuse; after reading 8.5 million
    identifier rows it held 0.5 GB that nothing used any more. glibc keeps
    freed heap pages too (numpy arrays below its mmap threshold live there);
    ``malloc_trim`` returns them (0.2-0.5 GB between stages at 1,000,000
    accounts). Elsewhere than glibc the second step is skipped.

    After :func:`keep_freed_below`, glibc's freed pages are kept while the
    process's resident memory is below the budget (the next stage reuses them
    without the kernel zero-filling them again); the first time it is above,
    glibc's defaults come back and the pages are returned, as without it.
    """
    import pyarrow as pa
    global _KEEP_BELOW
    pa.default_memory_pool().release_unused()
    if _KEEP_BELOW is not None:
        if resident_bytes() < _KEEP_BELOW:
            return
        _KEEP_BELOW = None
        _mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
    _malloc_trim()


def keep_freed_below(budget: int | None) -> None:
    """Keep glibc's freed pages between stages while resident memory is below ``budget``
    bytes (None: hand them back after every stage, the default).

    Meant for a process whose allocator keeps freed memory
    (:func:`ringfence.jobs.process.keep_freed_memory`).

    Examples
    --------
    >>> keep_freed_below(None)
    """
    global _KEEP_BELOW
    _KEEP_BELOW = None if budget is None else int(budget)


def resident_bytes() -> int:
    """This process's resident memory now, in bytes (0 where ``/proc`` is missing).

    Examples
    --------
    >>> resident_bytes() >= 0
    True
    """
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _libc():
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            _LIBC = False
    return _LIBC


def _malloc_trim() -> None:
    libc = _libc()
    if libc and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _mallopt(param: int, value: int) -> None:
    libc = _libc()
    if libc and hasattr(libc, "mallopt"):
        libc.mallopt(param, value)


_LIBC = None  # the C library once loaded, or False where it cannot be
_KEEP_BELOW: int | None = None  # see keep_freed_below

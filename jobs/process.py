"""Settings of the command-line process itself, made once when a command starts.

Two, both for the CPU of large jobs, neither changing any result:

- :func:`keep_freed_memory`: glibc's allocator keeps freed memory for reuse instead of
  handing large blocks back to the kernel, which zero-fills them again, page by page,
  when the next array of that size is written (``RINGFENCE_MALLOC=0`` turns it off).
- :func:`import_igraph_without_pyplot`: python-igraph imports ``matplotlib.pyplot``
  when it is imported, only to learn whether it could draw; the command line never
  draws with igraph.

They are made by the program's entry (:func:`ringfence.jobs.cli.run`; the commands that
build a graph import igraph this way): a program that imports ringfence as a library, or
calls :func:`ringfence.jobs.cli.main`, keeps its own allocator settings and igraph's drawing.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory", "keep_budget", "import_igraph_without_pyplot"]

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: free memory at the top of the heap kept rather than returned to the kernel
TRIM_THRESHOLD = 1 << 30
#: freed memory is kept between stages while the process holds less than this share
#: of the machine's memory (1/8)
KEEP_FRACTION = 8


def keep_freed_memory(environ: dict | None = None) -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; True when it was set.

    By default glibc serves every block over 128 KiB (a growing threshold, at most
    32 MiB) from a fresh ``mmap`` and unmaps it when freed, so each new large array
    is zero-filled by the kernel page by page as it is first written. The flag job
    allocates and frees arrays of millions of rows stage after stage: at 1,000,000
    accounts that was about 1,050,000 page faults and 12-19 s of system time, a
    fifth of its CPU. With ``M_MMAP_MAX=0`` every block comes from the heap, and
    with a 1 GiB trim threshold freed blocks stay there for the next array; the
    stages keep them too instead of trimming the heap after each one
    (:func:`ringfence.graph.memory.keep_freed_below`), while the process holds
    less than :func:`keep_budget`. Above it, glibc's defaults come back and every
    stage hands its freed memory back as before, so large runs keep their peak.
    Small runs pay in peak memory what they no longer hand back between stages
    (see docs/how-it-works.md for the measurements).

    Does nothing (returns False) when ``RINGFENCE_MALLOC=0``, when the C library
    is not glibc, or when ``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_`` (or
    ``GLIBC_TUNABLES``) already set the allocator from the environment.

    Parameters
    ----------
    environ : dict, optional
        The environment to read (default ``os.environ``).

    Returns
    -------
    bool
        Whether the allocator was changed.

    Examples
    --------
    >>> keep_freed_memory({"RINGFENCE_MALLOC": "0"})
    False
    """
    env = os.environ if environ is None else environ
    if env.get("RINGFENCE_MALLOC", "").strip() == "0":
        return False
    if any(k in env for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only (not musl)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    del gnu_get_libc_version
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    from ringfence.graph.memory import keep_freed_below

    keep_freed_below(keep_budget())
    return True


def keep_budget() -> int:
    """Resident bytes below which freed memory is kept between stages: an eighth of the
    memory this process may use (3 GiB on 24 GiB), so that large runs hand it back as
    before. That memory is the machine's, or the cgroup's limit (``memory.max``) when
    a container or job scheduler sets a lower one, as :mod:`ringfence.graph.cpus` reads
    the CPU quota.

    Examples
    --------
    >>> keep_budget() > 0
    True
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    limit = _cgroup_memory_limit()
    if limit is not None:
        total = min(total, limit)
    return int(total) // KEEP_FRACTION


#: cgroup v2's memory limit ("max" or bytes), then v1's
CGROUP_MEMORY = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _cgroup_memory_limit(paths: tuple[str, ...] | None = None) -> int | None:
    """The cgroup's memory limit in bytes, or None without one (or unreadable)."""
    for path in CGROUP_MEMORY if paths is None else paths:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:
            return int(text)
        return None
    return None


def import_igraph_without_pyplot() -> None:
    """Import python-igraph without letting it import ``matplotlib.pyplot``.

    ``import igraph`` imports its drawing modules, which import ``matplotlib.pyplot``
    when matplotlib is installed (about 0.4 s of CPU, a third of igraph's import).
    For the import only, matplotlib is made unimportable, so igraph records that it
    cannot draw with matplotlib; matplotlib itself imports normally afterwards
    (ringfence draws with matplotlib directly, never through igraph). Does nothing
    when igraph or matplotlib is imported already.

    Examples
    --------
    >>> import_igraph_without_pyplot()
    >>> "igraph" in sys.modules
    True
    """
    if "igraph" in sys.modules or "matplotlib" in sys.modules:
        return
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # import fails at once
    try:
        import igraph  # noqa: F401
    finally:
        if sys.modules.get("matplotlib", 0) is None:
            del sys.modules["matplotlib"]

"""How many CPUs this process may really use, and thread pools sized from it.

``os.cpu_count()`` counts the machine's cores, not the ones the process may
run on: a container limited to two CPUs on a 64-core host, or a job pinned to
one core, would start 64 threads that take turns on two. Every thread pool of
ringfence (the label features' threads, scikit-learn's OpenMP, BLAS) is sized
by :func:`available_cpus` (capped by ``OMP_NUM_THREADS``, or replaced by
``RINGFENCE_THREADS``), or by ``--threads``, through :func:`thread_limits`.

OpenMP threads that wait for work spin on a CPU by default (GCC's runtime,
which scikit-learn ships: 300,000 rounds, most of a millisecond). On a busy
machine a spinning thread takes the CPU from the thread that would have
finished the work, and gradient boosting, which waits at a barrier several
times per tree, slowed down 11 times and more on two busy cores. Importing
this module shortens the spin to ``SPIN_COUNT`` rounds (``GOMP_SPINCOUNT``)
unless the environment sets a wait policy itself. Not sleeping at once
(``OMP_WAIT_POLICY=PASSIVE``): steadier under load, but on an idle machine it
made the model stage of a 20,000-account run four times slower (12 s against
3 s), the barriers being too short for a sleep and a wake-up. The setting must be made before the
OpenMP runtime is loaded, so :mod:`ringfence.graph` imports this module first.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

SPIN_COUNT = 10_000
# before scikit-learn (and with it libgomp) is imported: the runtime reads it once, at load
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))

__all__ = ["available_cpus", "default_threads", "resolve_threads", "thread_budget",
           "thread_limits"]

#: cgroup v2 ``cpu.max`` ("max 100000" or "<quota> <period>"), then v1's two files
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
             Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))

_LIMIT: ContextVar[int | None] = ContextVar("ringfence_threads", default=None)


def _cgroup_cpus() -> float | None:
    """CPUs the cgroup's quota allows (quota / period), or None without a quota."""
    try:
        quota, period = CGROUP_V2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = (p.read_text().strip() for p in CGROUP_V1)
        except (OSError, ValueError):
            return None
    if quota in ("max", "-1"):
        return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by the cgroup's CPU quota.

    A fractional quota rounds up (1.5 CPUs: two threads); at least 1.

    >>> available_cpus() >= 1
    True
    """
    n = _affinity_cpus()
    quota = _cgroup_cpus()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def default_threads() -> int:
    """The threads to use when nobody says: ``RINGFENCE_THREADS`` when set, else
    :func:`available_cpus` capped by ``OMP_NUM_THREADS`` (its first number), the cap
    scikit-learn's own pools honour: a job told to use one OpenMP thread uses one.

    Raises ValueError when ``RINGFENCE_THREADS`` is not an integer >= 1 (an unusable
    ``OMP_NUM_THREADS`` is ignored, as the OpenMP runtime ignores it).

    >>> default_threads() >= 1
    True
    """
    given = os.environ.get("RINGFENCE_THREADS", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ValueError(f"RINGFENCE_THREADS must be an integer >= 1, got {given!r}")
        return int(given)
    n = available_cpus()
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) >= 1:
        n = min(n, int(omp))
    return n


def resolve_threads(threads: int | None) -> int:
    """The threads to use: ``threads`` when given (>= 1), else :func:`default_threads`.

    >>> resolve_threads(3)
    3
    """
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def thread_budget() -> int:
    """Threads a pool may start: the :func:`thread_limits` in force, else
    :func:`default_threads`."""
    limit = _LIMIT.get()
    return default_threads() if limit is None else limit


@contextmanager
def thread_limits(threads: int | None = None) -> Iterator[int]:
    """Inside, every pool uses at most ``threads`` (default :func:`default_threads`).

    OpenMP and BLAS pools of libraries already imported are limited through
    threadpoolctl (import scikit-learn before entering); ringfence's own
    pools read :func:`thread_budget`. Yields the number of threads.

    >>> with thread_limits(1) as n:
    ...     n, thread_budget()
    (1, 1)
    """
    from threadpoolctl import threadpool_limits

    n = resolve_threads(threads)
    token = _LIMIT.set(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        _LIMIT.reset(token)

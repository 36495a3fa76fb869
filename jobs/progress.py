"""Stage timing and progress lines on stderr, shared by every job."""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from graph.tables import release_freed_memory


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """Times named stages and prints one progress line per stage to ``stream``.

    ``timings`` maps each stage to its wall time in seconds, for ``run.json``.
    """

    def __init__(self, total: int | None = None, stream: TextIO | None = None,
                 quiet: bool = False):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}
        self._n = 0
        self._t0 = time.perf_counter()

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._n += 1
        count = f"[{self._n}/{self.total}] " if self.total else f"[{self._n}] "
        if not self.quiet:
            print(f"{count}{name} ...", end="", file=self.stream, flush=True)
        t = time.perf_counter()
        try:
            yield
        except BaseException:
            if not self.quiet:
                print(" failed", file=self.stream, flush=True)
            raise
        dt = time.perf_counter() - t
        # what the stage freed goes back to the system before the next one allocates (at
        # 1,000,000 accounts the allocators kept 0.3-0.8 GB after build and features)
        release_freed_memory()
        self.timings[name] = round(dt, 3)
        self.peak_mib[name] = round(peak_rss_mib(), 1)
        if not self.quiet:
            print(f" {dt:.1f} s", file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

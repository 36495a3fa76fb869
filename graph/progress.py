"""Stage timing and progress lines on stderr, shared by every job."""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from ringfence.graph.memory import release_freed_memory


_peak_before_reset = 0.0  # the process's peak from before the last reset of the mark


def _current_mark_mib() -> float | None:
    """The kernel's high-water mark of resident memory (VmHWM), the one a reset restarts."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    mark = _current_mark_mib()
    if mark is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    # not ru_maxrss where the kernel's own mark can be read: exec keeps in it the memory
    # the parent had when it started this process (a benchmark that had just generated
    # a 1,000,000-account platform made every stage of its flag job "peak" at 2.6 GiB)
    return max(_peak_before_reset, mark)


def _reset_peak_mark() -> bool:
    """Restart the kernel's high-water mark of resident memory, so that the next reading is
    the peak of what runs from now on (Linux >= 4.0; False where that is not possible)."""
    global _peak_before_reset
    peak = peak_rss_mib()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    _peak_before_reset = peak
    return True


class Stages:
    """Times named stages and prints one progress line per stage to ``stream``.

    ``timings`` maps each stage to its wall time in seconds and ``peak_mib``
    to the peak resident memory while it ran (on Linux; elsewhere the
    process's peak so far), for ``run.json``.
    """

    def __init__(self, total: int | None = None, stream: TextIO | None = None,
                 quiet: bool = False):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}
        self._n = 0
        self._depth = 0
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
        # a stage inside another keeps the outer stage's mark (its peak then covers both)
        own_peak = self._depth == 0 and _current_mark_mib() is not None and _reset_peak_mark()
        self._depth += 1
        t = time.perf_counter()
        try:
            yield
        except BaseException:
            if not self.quiet:
                print(" failed", file=self.stream, flush=True)
            raise
        finally:
            self._depth -= 1
        dt = time.perf_counter() - t
        # what the stage freed goes back to the system before the next one allocates (at
        # 1,000,000 accounts the allocators kept 0.3-0.8 GB after build and features)
        release_freed_memory()
        self.timings[name] = round(dt, 3)
        # the stage's own peak where the mark could be reset, else the process's so far
        mark = _current_mark_mib() if own_peak else None
        self.peak_mib[name] = round(mark if mark is not None else peak_rss_mib(), 1)
        if not self.quiet:
            print(f" {dt:.1f} s", file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

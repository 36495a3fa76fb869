"""jobs/process.py: the command line's own process settings (allocator, igraph's import)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ringfence.jobs import cli
from ringfence.jobs.process import keep_freed_memory


def _run(code: str, **env: str) -> str:
    import os

    environ = {k: v for k, v in os.environ.items()
               if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES",
                            "RINGFENCE_MALLOC")}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**environ, **env}, check=True)
    return proc.stdout.strip()


REUSE = """
    import resource, numpy as np
    from ringfence.jobs.process import keep_freed_memory
    np._core.multiarray._set_madvise_hugepage(False)  # count 4 KiB pages
    print(keep_freed_memory(), end=" ")
    a = np.ones(8_000_000); del a  # 64 MB, written then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(8_000_000)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_memory_is_reused_without_new_page_faults():
    # 64 MB are 15,625 pages of 4 KiB: by default the second array is a fresh mmap that
    # the kernel fills page by page again; kept, it reuses the first one's pages
    kept, faults = _run(REUSE).split()
    assert kept == "True" and int(faults) < 1_000
    kept, faults = _run(REUSE, RINGFENCE_MALLOC="0").split()
    assert kept == "False" and int(faults) > 15_000
    kept, _ = _run(REUSE, MALLOC_MMAP_MAX_="65536").split()  # the user's own setting wins
    assert kept == "False"


def test_off_switch_and_the_users_settings_win():
    assert keep_freed_memory({"RINGFENCE_MALLOC": "0"}) is False
    assert keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"}) is False


def test_igraph_is_imported_without_pyplot_and_matplotlib_still_imports():
    out = _run("""
        import sys
        from ringfence.jobs.process import import_igraph_without_pyplot
        import_igraph_without_pyplot()
        print("igraph" in sys.modules, "matplotlib" in sys.modules, end=" ")
        import igraph
        g = igraph.Graph.Famous("Zachary")
        print(len(g.community_leiden(objective_function="modularity")) > 1, end=" ")
        import matplotlib.pyplot
        print("matplotlib.pyplot" in sys.modules)
    """)
    assert out == "True False True True"


def test_the_program_sets_the_allocator_first_and_main_alone_does_not(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(sys, "argv", ["ringfence", "validate", "--accounts",
                                      "/nonexistent/accounts.csv"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 2 and calls == [True]
    # a program calling main() itself (tests, notebooks) keeps its own allocator
    assert cli.main(["validate", "--accounts", "/nonexistent/accounts.csv"]) == 2
    assert calls == [True]


def test_the_budget_follows_a_lower_cgroup_memory_limit(tmp_path, monkeypatch):
    from ringfence.jobs import process

    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    assert process._cgroup_memory_limit((str(v2), str(v1))) is None  # neither file
    v2.write_text("max\n")
    v1.write_text("1073741824\n")
    assert process._cgroup_memory_limit((str(v2), str(v1))) is None  # v2 says no limit
    assert process._cgroup_memory_limit((str(tmp_path / "absent"), str(v1))) == 1 << 30
    v2.write_text("2147483648\n")
    monkeypatch.setattr(process, "CGROUP_MEMORY", (str(v2),))
    assert process.keep_budget() == (2 << 30) // process.KEEP_FRACTION
    v2.write_text(str(1 << 50))  # a limit above the machine's memory changes nothing
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert process.keep_budget() == machine // process.KEEP_FRACTION

"""A run folder survives SIGKILL at any moment of writing: it is always the old run or the
new one, complete, and the next successful run leaves no leftovers."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pandas as pd
import pytest
from forkserver import ForkServer

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import OUTPUT_TABLES, read_run, read_table, write_run

# loads two finished runs once; each forked child writes them into OUT in turn, for ever, as
# fast as it can
WRITER = """
import sys
from ringfence.jobs.runs import read_run, write_run
out, sources = sys.argv[2], sys.argv[3:]
results = [read_run(s).result(rebuild=False) for s in sources]

def job(args):
    i = 0
    while True:
        write_run(results[i % 2], out, "csv")
        i += 1
"""

# the flag command, its modules imported once; each forked child runs it with the job's argv
FLAG_COMMAND = """
from ringfence.jobs.cli import main
# what the flag command imports when it starts
import ringfence.graph.cpus, ringfence.graph.progress, ringfence.jobs.config, ringfence.jobs.flag

def job(argv):
    return main(argv)
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two different runs of one platform, as reference folders ``a`` and ``b``."""
    base = tmp_path_factory.mktemp("crash")
    p = generate_platform(n_accounts=2000, seed=4)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    for name, capacity in (("a", 30), ("b", 60)):
        write_run(run_flag(t, scorer="propagation", review_capacity=capacity), base / name, "csv")
    return base


def _which_run(out, refs) -> str:
    """The name of the reference run ``out`` is, complete; fails on anything else."""
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    capacity = run["parameters"]["review_capacity"]
    name = {30: "a", 60: "b"}[capacity]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in refs[name].iterdir())
    for table in OUTPUT_TABLES:
        pd.testing.assert_frame_equal(read_table(out, table), read_table(refs[name], table))
    return name


@pytest.mark.slow
def test_sigkill_while_writing_leaves_the_old_or_the_new_run(two_runs, tmp_path):
    refs = {n: two_runs / n for n in "ab"}
    out = tmp_path / "flags"
    t0 = time.perf_counter()
    write_run(read_run(refs["a"]).result(rebuild=False), out, "csv")
    # the kills must fall across several writes however fast this machine writes (a fixed
    # 0.5 s window missed the writes of run b when one write took longer than 0.25 s)
    one_write = max(time.perf_counter() - t0, 0.05)
    assert _which_run(out, refs) == "a"
    rng = random.Random(17)
    seen = set()
    with ForkServer(WRITER, args=[str(out), str(refs["a"]), str(refs["b"])]) as writers:
        for kill in range(48):
            if kill >= 12 and seen == {"a", "b"}:
                break
            writers.start()
            # the writer alternates a, b, a, ...: kill within the first six writes, at any
            # moment. The parent's write is only a guess at the child's pace: on a busy
            # machine all twelve kills once left the same run, so while they do, the window
            # doubles every twelve kills
            time.sleep(rng.uniform(0.0, 6 * one_write * 2 ** (kill // 12)))
            assert writers.kill() == -signal.SIGKILL
            seen.add(_which_run(out, refs))   # every kill: one run or the other, complete
    assert seen == {"a", "b"}                 # the kills fell in different writes
    write_run(read_run(refs["b"]).result(rebuild=False), out, "csv")
    assert _which_run(out, refs) == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["flags"]   # no tmp, old or lock left


@pytest.mark.slow
def test_sigkill_of_the_flag_job_at_random_points(tmp_path):
    """The whole command, killed anywhere from loading to the swap: the folder is the previous
    run or the new one, never missing, never half-written."""
    from ringfence.graph.synth import write_platform

    files = write_platform(generate_platform(n_accounts=2000, seed=4), tmp_path / "in",
                           format="csv")
    out = tmp_path / "flags"

    def command(capacity: int) -> list[str]:
        args = ["flag", "--no-model", "--quiet", "--top", "0", "--out", str(out),
                "--review-capacity", str(capacity)]
        for t in ("accounts", "identifiers", "edges", "enforcement"):
            args += [f"--{t}", str(files[t])]
        return args

    env = dict(os.environ, RINGFENCE_MASK_KEY="crash-test")
    refs = {}
    with ForkServer(FLAG_COMMAND, env=env) as flag:
        for name, capacity in (("new", 60), ("old", 30)):     # "old" ends up in place
            t0 = time.perf_counter()
            flag.start(command(capacity))
            assert flag.wait() == 0
            seconds = time.perf_counter() - t0
            refs[name] = {table: read_table(out, table) for table in OUTPUT_TABLES}
        rng = random.Random(5)
        for _ in range(8):
            flag.start(command(60))
            time.sleep(rng.uniform(0.0, 1.2 * seconds))
            flag.kill()
            assert out.is_dir()
            json.loads((out / "run.json").read_text(encoding="utf-8"))
            tables = {table: read_table(out, table) for table in OUTPUT_TABLES}
            matches = [name for name, ref in refs.items()
                       if all(tables[t].equals(ref[t]) for t in OUTPUT_TABLES)]
            assert len(matches) == 1
        flag.start(command(60))
        assert flag.wait() == 0
    assert [p.name for p in tmp_path.iterdir() if p.name != "in"] == ["flags"]

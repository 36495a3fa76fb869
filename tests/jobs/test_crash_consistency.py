"""A run folder survives SIGKILL at any moment of writing: it is always the old run or the
new one, complete, and the next successful run leaves no leftovers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import OUTPUT_TABLES, read_run, read_table, write_run

# loads two finished runs, then writes them into OUT in turn, for ever, as fast as it can
WRITER = """
import sys
from ringfence.jobs.runs import read_run, write_run
out, sources = sys.argv[1], sys.argv[2:]
results = [read_run(s).result(rebuild=False) for s in sources]
print("ready", flush=True)
i = 0
while True:
    write_run(results[i % 2], out, "csv")
    i += 1
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
    write_run(read_run(refs["a"]).result(rebuild=False), out, "csv")
    assert _which_run(out, refs) == "a"
    rng = random.Random(17)
    seen = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(refs["a"]),
                                 str(refs["b"])], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            # a write takes some 0.1 s: kill within the first few writes, at any moment
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            proc.stdout.close()
        seen.add(_which_run(out, refs))
    assert seen == {"a", "b"}                 # the kills fell in different writes
    write_run(read_run(refs["b"]).result(rebuild=False), out, "csv")
    assert _which_run(out, refs) == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["flags"]   # no tmp, old or lock left

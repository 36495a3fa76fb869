"""jobs/runs.py: run folders are written atomically and read back by one reader."""

from __future__ import annotations

import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs import runs
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import write_run


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=6000, seed=3)


@pytest.fixture(scope="module")
def tables(platform):
    p = platform
    return load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)


@pytest.fixture(scope="module")
def propagation_result(tables):
    return run_flag(tables, review_capacity=60, scorer="propagation")


def test_outputs_written_atomically(propagation_result, tmp_path, monkeypatch):
    out = tmp_path / "run"
    write_run(propagation_result, out, "csv")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"scores.csv", "identities.csv", "links.csv", "clusters.csv", "evidence.csv",
            "run.json"} <= set(before)

    calls = {"n": 0}
    real = runs.write_table

    def failing(df, directory, name, fmt):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(df, directory, name, fmt)

    monkeypatch.setattr("ringfence.jobs.runs.write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write_run(propagation_result, out, "parquet")
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before                                   # previous outputs untouched
    assert [p.name for p in tmp_path.iterdir()] == ["run"]   # no temporary leftovers

"""`ringfence neo4j export-bulk`: files for neo4j-admin from a run folder (no server)."""

from __future__ import annotations

import gzip

import pytest

from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main


@pytest.mark.slow
def test_export_bulk_through_the_cli(tmp_path, capsys):
    write_platform(generate_platform(n_accounts=300, seed=2), tmp_path / "p", format="csv")
    args = ["flag", "--out", str(tmp_path / "run"), "--no-model", "--quiet", "--top", "0"]
    for t in ("accounts", "identifiers", "edges", "enforcement"):
        args += [f"--{t}", str(tmp_path / "p" / f"{t}.csv.gz")]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["neo4j", "export-bulk", "--run", str(tmp_path / "run"),
                 "--out", str(tmp_path / "bulk"), "--database-name", "fraud"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.strip().splitlines()]
    command = next(line for line in lines if line.startswith("neo4j-admin"))
    assert lines[-1] == ("ringfence neo4j sync --run NEXT_RUN --state "
                         + str(tmp_path / "bulk" / "sync-state.parquet"))
    assert command.startswith("neo4j-admin database import full fraud --nodes=")
    # every file the command names exists, headers first
    for arg in command.split()[5:]:
        files = arg.split("=", 1)[1].split(",")
        assert files[0].endswith(".header.csv") and files[1].endswith(".csv.gz")
        for f in files:
            assert (tmp_path / "bulk" / f).is_file()
    with gzip.open(tmp_path / "bulk" / "nodes" / "Account.csv.gz", "rt") as f:
        assert sum(1 for _ in f) == 300

    assert main(["neo4j", "export-bulk", "--run", str(tmp_path / "run"),
                 "--out", str(tmp_path / "x"), "--database-name", "a b;rm"]) == 2
    assert "database name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["neo4j", "export-bulk", "--run", str(tmp_path / "nothing"),
                 "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()

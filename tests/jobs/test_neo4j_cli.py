"""`ringfence neo4j sync|load` through the command line, against the test server."""

from __future__ import annotations

import pytest

from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main

pytestmark = pytest.mark.neo4j


def test_sync_then_load_through_the_cli(bolt_server, tmp_path, monkeypatch, capsys):
    write_platform(generate_platform(n_accounts=800, seed=2), tmp_path / "p", format="csv")
    args = ["flag", "--out", str(tmp_path / "run"), "--no-model", "--quiet", "--top", "0"]
    for t in ("accounts", "identifiers", "edges", "enforcement"):
        args += [f"--{t}", str(tmp_path / "p" / f"{t}.csv.gz")]
    assert main(args) == 0
    monkeypatch.setenv("NEO4J_URI", bolt_server.uri)
    monkeypatch.setenv("NEO4J_USER", bolt_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", bolt_server.password)
    monkeypatch.setenv("NEO4J_DATABASE", bolt_server.database)
    capsys.readouterr()
    assert main(["neo4j", "sync", "--run", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ringfence neo4j sync" in out and "rows/s" in out
    assert bolt_server.password not in out
    assert main(["neo4j", "load", "--out", str(tmp_path / "loaded")]) == 0
    out = capsys.readouterr().out
    assert "accounts" in out and "800" in out
    assert (tmp_path / "loaded" / "accounts.csv.gz").exists()

    monkeypatch.setenv("NEO4J_PASSWORD", "wrong-password")
    assert main(["neo4j", "load", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "wrong-password" not in err
    assert not (tmp_path / "x").exists()

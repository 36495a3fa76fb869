"""Syncing a flag job's output folder (``ringfence.jobs.neo4j_sync``) and writing the
tables loaded back, against the session's Bolt server."""

from __future__ import annotations

import gzip
import os

import pytest
from neo4j_helpers import MASK_KEY, assert_same_tables

from ringfence.graph import load_tables
from ringfence.graph.masking import Masker
from ringfence.graph.neo4j import load_from_neo4j, write_tables
from ringfence.graph.neo4j.incremental import default_state_path
from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main
from ringfence.jobs.config import JobConfig
from ringfence.jobs.flag import flag_files
from ringfence.jobs.neo4j_sync import sync_run_dir
from ringfence.jobs.runs import RunFolderError, read_run

pytestmark = pytest.mark.neo4j


def test_sync_a_run_directory_and_write_the_tables(db, settings, tmp_path):
    p = generate_platform(n_accounts=400, seed=5)
    paths = write_platform(p, tmp_path / "in", format="csv")
    inputs = {n: str(paths[n]) for n in ("accounts", "identifiers", "edges", "enforcement")}
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"flags-{fmt}"
        flag_files(inputs, out, JobConfig(format=fmt), scorer="propagation",
                   masker=Masker(MASK_KEY))
        # full: the second folder holds the same run, which an incremental sync would skip
        report = sync_run_dir(settings, out, progress=False, full=True)
        assert report.step("accounts").rows == 400
    tables = read_run(tmp_path / "flags-csv").inputs()
    back = load_from_neo4j(settings)
    assert_same_tables(tables, back)
    for fmt in ("csv", "parquet"):
        written = write_tables(back, tmp_path / f"export-{fmt}", fmt)
        assert sorted(written) == ["accounts", "edges", "enforcement", "identifiers"]
        again = load_tables(**{n: str(f) for n, f in written.items()})
        assert_same_tables(tables, again)

    # an input that changed after the run is refused, and so is a directory without run.json
    with gzip.open(inputs["enforcement"], "at") as f:
        f.write(f"{tables.accounts['account_id'][0]},ban,,x\n")
    with pytest.raises(RunFolderError, match="changed since the run"):
        sync_run_dir(settings, tmp_path / "flags-csv", progress=False)
    with pytest.raises(RunFolderError, match="no run.json"):
        sync_run_dir(settings, tmp_path, progress=False)


def test_the_nightly_sync_of_a_run_folder_sends_only_changes(db, settings, tmp_path, capsys,
                                                            monkeypatch):
    p = generate_platform(n_accounts=300, seed=8)
    paths = write_platform(p, tmp_path / "in", format="csv")
    inputs = {n: str(paths[n]) for n in ("accounts", "identifiers", "edges", "enforcement")}
    out = tmp_path / "flags"
    flag_files(inputs, out, JobConfig(format="parquet"), scorer="propagation",
               masker=Masker(MASK_KEY))
    kept = default_state_path(settings.uri, settings.database)
    kept.unlink(missing_ok=True)         # another test of this session may have synced
    first = sync_run_dir(settings, out, progress=False)
    assert first.mode == "full" and "no sync state" in first.note
    # the state is kept per database under $XDG_STATE_HOME (tests/conftest.py: a temporary
    # folder), in a folder only its owner can read
    assert kept.is_relative_to(os.environ["XDG_STATE_HOME"]) and kept.is_file()
    assert kept.parent.stat().st_mode & 0o077 == 0
    again = sync_run_dir(settings, out, progress=False)
    assert again.mode == "incremental" and again.rows == 0
    own = tmp_path / "state.parquet"
    assert sync_run_dir(settings, out, progress=False, state=own).mode == "full"
    assert own.exists() and sync_run_dir(settings, out, progress=False,
                                         state=own).mode == "incremental"

    # through the command line
    monkeypatch.setenv("NEO4J_PASSWORD", settings.password)
    args = ["neo4j", "sync", "--run", str(out), "--quiet", "--uri", settings.uri,
            "--user", settings.user, "--database", settings.database, "--state", str(own)]
    capsys.readouterr()
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "incremental sync: changes since run" in text and " 0 rows" in text
    assert main(args + ["--full"]) == 0
    assert "full sync: --full asked for" in capsys.readouterr().out

"""Syncing a flag job's output folder (``ringfence.jobs.neo4j_sync``) and writing the
tables loaded back, against the session's Bolt server."""

from __future__ import annotations

import gzip

import pytest
from neo4j_helpers import MASK_KEY, assert_same_tables

from ringfence.graph import load_tables
from ringfence.graph.masking import Masker
from ringfence.graph.neo4j import load_from_neo4j, write_tables
from ringfence.graph.synth import generate_platform, write_platform
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
        report = sync_run_dir(settings, out, progress=False)
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

"""jobs/runs.py: run folders are written atomically and read back by one reader."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.config import GraphConfig
from ringfence.graph.masking import Masker
from ringfence.graph.progress import Stages
from ringfence.graph.synth import generate_platform
from ringfence.jobs import runs
from ringfence.jobs.config import JobConfig
from ringfence.jobs.flag import flag_files
from ringfence.jobs.runs import RunFolderError, read_run, read_table, write_run


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


# --- a CSV run made from files, with ids that look like numbers ("0000007") ---------------

def _numeric_ids(p):
    """The platform with ids "acct_0000007" -> "0000007": text a careless reader turns into 7."""
    strip = lambda s: s.str.removeprefix("acct_")  # noqa: E731
    return {"accounts": p.accounts.assign(account_id=strip(p.accounts["account_id"])),
            "identifiers": p.identifiers.assign(account_id=strip(p.identifiers["account_id"])),
            "edges": p.edges.assign(src=strip(p.edges["src"]), dst=strip(p.edges["dst"])),
            "enforcement": p.enforcement.assign(account_id=strip(p.enforcement["account_id"]))}


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """(run folder, the FlagResult it was written from, input folder): 2,000 accounts."""
    base = tmp_path_factory.mktemp("csv_run")
    inputs = base / "inputs"
    inputs.mkdir()
    paths = {}
    for name, df in _numeric_ids(generate_platform(n_accounts=2000, seed=5)).items():
        paths[name] = inputs / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    config = JobConfig(format="csv", review_capacity=40, as_of="2025-01-15",
                       graph=GraphConfig(link_threshold=0.7, seed=2))
    result = flag_files(paths, base / "flags", config, scorer="propagation",
                        masker=Masker(key=b"k" * 32))
    return base / "flags", result, inputs


def test_csv_run_keeps_text_ids_reasons_ranks_and_utc_times(csv_run):
    out, result, _ = csv_run
    folder = read_run(out)
    scores = folder.table("scores")
    assert "0000007" in set(scores["account_id"])
    assert list(scores["account_id"]) == list(result.scores["account_id"])
    assert all(isinstance(r, str) for r in scores["reasons"])      # "" for unflagged, not NaN
    assert list(scores["reasons"]) == list(result.scores["reasons"])
    assert scores["rank"].dtype == "Int64"
    assert scores["rank"].isna().sum() == int((scores["banned"] | scores["cleared"]).sum()) > 0
    pd.testing.assert_series_equal(scores["rank"], result.scores["rank"])
    np.testing.assert_allclose(scores["score"], result.scores["score"], rtol=1e-12)
    assert scores["flagged"].sum() == 40

    links = folder.table("links")
    assert set(links["account_a"]) | set(links["account_b"]) <= set(scores["account_id"])

    clusters = folder.table("clusters")
    for c in ("first_activity", "last_activity"):
        assert isinstance(clusters[c].dtype, pd.DatetimeTZDtype) and str(clusters[c].dt.tz) == "UTC"
        want = result.clusters[c].dt.tz_convert("UTC")
        assert (clusters[c].to_numpy() == want.to_numpy()).all()


def test_read_table_without_the_table_is_a_run_folder_error(tmp_path):
    with pytest.raises(RunFolderError, match="no scores.parquet or scores.csv"):
        read_table(tmp_path, "scores")


def test_read_run_errors(tmp_path):
    with pytest.raises(RunFolderError, match="no such run directory"):
        read_run(tmp_path / "nowhere")
    with pytest.raises(RunFolderError, match="no run.json here"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(RunFolderError, match=r"run\.json: cannot read it"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(RunFolderError, match="not a run record"):
        read_run(tmp_path)
    assert issubclass(RunFolderError, ValueError)


def test_write_run_writes_run_json_once_with_outputs_and_format(propagation_result, tmp_path,
                                                                 monkeypatch):
    written = []
    real = runs.write_json

    def counting(obj, path):
        written.append(Path(path).name)
        return real(obj, path)

    monkeypatch.setattr("ringfence.jobs.runs.write_json", counting)
    stages = Stages(quiet=True)
    out = write_run(_fresh(propagation_result), tmp_path / "run", "csv", stages=stages)
    assert written == ["run.json"]
    run = json.loads((out / "run.json").read_text())
    assert run["format"] == "csv"
    assert run["outputs"] == {n: f"{n}.csv" for n in runs.OUTPUT_TABLES}
    assert sorted(p.name for p in out.iterdir()) == sorted([*run["outputs"].values(), "run.json",
                                                           *run["subgraph"]["files"].values()])
    assert run["stage_seconds"]["write outputs"] == stages.timings["write outputs"]
    assert run["summary"]["accounts"] == 6000


def _fresh(result):
    """The result with its own copy of the run record (write_run adds its timings to it)."""
    return dataclasses.replace(result, run=copy.deepcopy(result.run))


def test_write_run_without_stages_keeps_the_jobs_timings(propagation_result, tmp_path):
    job_stages = ["build graph", "link identities", "find clusters", "propagate blacklist",
                  "rank and explain"]
    result = _fresh(propagation_result)
    seconds = {k: result.run["stage_seconds"][k] for k in job_stages}
    out = write_run(result, tmp_path / "run", "parquet")
    run = json.loads((out / "run.json").read_text())
    assert run["format"] == "parquet"
    assert run["outputs"]["scores"] == "scores.parquet"
    # the write is added to the job's own stage timings, which are not lost
    assert list(run["stage_seconds"]) == [*job_stages, "write outputs"]
    assert {k: run["stage_seconds"][k] for k in job_stages} == seconds
    assert run["summary"]["seconds"] == result.run["summary"]["seconds"]


def _copy_run(csv_run, tmp_path):
    """A copy of the run folder whose recorded inputs are copies too (safe to change)."""
    out, _, inputs = csv_run
    shutil.copytree(inputs, tmp_path / "inputs")
    shutil.copytree(out, tmp_path / "flags")
    record = json.loads((tmp_path / "flags" / "run.json").read_text())
    for info in record["inputs"].values():
        info["path"] = info["source"] = str(tmp_path / "inputs" / Path(info["path"]).name)
    (tmp_path / "flags" / "run.json").write_text(json.dumps(record))
    return tmp_path / "flags", tmp_path / "inputs"


def test_inputs_are_read_again_when_unchanged(csv_run):
    out, result, _ = csv_run
    run = json.loads((out / "run.json").read_text())
    assert set(run["inputs"]) == {"accounts", "identifiers", "edges", "enforcement"}
    assert all(len(info["sha256"]) == 64 for info in run["inputs"].values())
    tables = read_run(out).inputs()
    assert len(tables.accounts) == 2000
    assert tables.accounts["account_id"].iloc[7] == "0000007"


def test_inputs_refuse_a_changed_input(csv_run, tmp_path):
    out, inputs = _copy_run(csv_run, tmp_path)
    assert len(read_run(out).inputs().enforcement) > 0          # the copy reads as it is
    with open(inputs / "enforcement.csv", "a") as f:
        f.write("0000001,violation,2025-01-01T00:00:00Z,spam\n")
    with pytest.raises(RunFolderError, match="the enforcement input changed since the run"):
        read_run(out).inputs()


def test_inputs_refuse_a_missing_input(csv_run, tmp_path):
    out, inputs = _copy_run(csv_run, tmp_path)
    (inputs / "edges.csv").unlink()
    with pytest.raises(RunFolderError, match="the edges input .* is not a file any more"):
        read_run(out).inputs()


def test_result_without_rebuild_has_no_state(csv_run):
    out, result, _ = csv_run
    r = read_run(out).result(rebuild=False)
    assert r.state is None and r.graph is None
    assert r.run["loaded_from"]["graph_rebuilt"] is False
    assert len(r.scores) == 2000 and len(r.identities) == len(result.identities)


def test_result_rebuilds_the_runs_identities(csv_run):
    out, result, _ = csv_run
    r = read_run(out).result()
    assert r.run["loaded_from"]["graph_rebuilt"] is True
    # the rebuild used the run's config and as-of time, not the defaults
    assert r.state.graph.config.link_threshold == 0.7
    assert r.state.graph.as_of == pd.Timestamp("2025-01-15", tz="UTC")
    assert r.state.membership is None                          # identities only
    np.testing.assert_array_equal(r.state.identity, r.scores["identity_id"].to_numpy())
    np.testing.assert_array_equal(r.state.graph.account_ids, r.scores["account_id"].to_numpy())


def test_result_of_a_run_made_from_dataframes(propagation_result, tmp_path):
    out = write_run(_fresh(propagation_result), tmp_path / "run")
    folder = read_run(out)
    # no files to rebuild from: the graph the run kept around its flagged accounts
    r = folder.result()
    assert r.run["loaded_from"]["graph_rebuilt"] is False
    assert r.run["loaded_from"]["graph"] == "stored"
    assert r.run["loaded_from"]["changed_inputs"]["accounts"] == "not a file"
    assert 60 <= r.graph.n_accounts < 6000
    assert set(r.top(60)["account_id"]) <= set(r.graph.account_ids)
    # without the kept graph, as before: no graph, and a note saying why
    for f in folder.run["subgraph"]["files"].values():
        (out / f).unlink()
    r = read_run(out).result()
    assert r.state is None
    assert r.run["loaded_from"]["graph_rebuilt"] is False
    assert any("was a DataFrame" in n for n in r.run["loaded_from"]["notes"])
    with pytest.raises(RunFolderError, match="is not a file any more"):
        read_run(out).inputs()


# --- CSV injection: formula-like text is escaped in CSV runs and read back exactly ---------

HOSTILE_IDS = ["=1+1", "+x", "-x", "@x", "'x", "\tx", "\rx", "''y", "=HYPERLINK(\"http://e\")"]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def hostile_result():
    """A small run whose account ids (in scores, links and evidence) start like formulas."""
    from helpers import small_tables
    from ringfence.jobs.flag import run_flag

    names = [f"a{i}" for i in range(len(HOSTILE_IDS))]
    t = small_tables(names + ["banned1"],
                     identifiers=[(a, "device", "d1") for a in names + ["banned1"]],
                     enforcement=[("banned1", "ban", "2026-01-01", "=cmd|' /C calc'!A0")])
    result = run_flag(t, scorer="propagation", review_capacity=len(names))
    rename = dict(zip(names, HOSTILE_IDS))
    for df, cols in ((result.scores, ["account_id"]), (result.links, ["account_a", "account_b"]),
                     (result.evidence, ["account_id"])):
        for c in cols:
            df[c] = df[c].replace(rename)
    assert len(result.links) and len(result.evidence)
    return result


def test_csv_run_escapes_formulas_and_reads_back_exactly(hostile_result, tmp_path):
    import csv

    out = write_run(hostile_result, tmp_path / "run", "csv")
    cells = 0
    for f in sorted(out.glob("*.csv")):
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    cells += 1
                    # only numbers (-1: no cluster) may start with a formula character
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) \
                        or _is_number(cell), (f.name, cell)
    assert cells > 100
    assert "'=1+1" in (out / "scores.csv").read_text(encoding="utf-8")
    folder = read_run(out)
    for name, cols in (("scores", ["account_id", "reasons"]),
                       ("links", ["account_a", "account_b"]),
                       ("evidence", ["account_id", "text", "path"])):
        table = folder.table(name)
        for c in cols:
            assert table[c].tolist() == getattr(hostile_result, name)[c].tolist(), (name, c)
    assert set(HOSTILE_IDS) <= set(folder.table("scores")["account_id"])


def test_parquet_run_keeps_text_as_it_is(hostile_result, tmp_path):
    out = write_run(hostile_result, tmp_path / "run", "parquet")
    raw = pd.read_parquet(out / "scores.parquet")
    assert raw["account_id"].tolist() == hostile_result.scores["account_id"].tolist()
    assert read_table(out, "scores")["account_id"].tolist() == raw["account_id"].tolist()


def test_read_table_refuses_damaged_tables(tmp_path):
    (tmp_path / "scores.csv").write_text('account_id,score\n"a,0.5\n')
    with pytest.raises(RunFolderError, match=r"scores\.csv: cannot read this table, it is "
                       r"damaged or not a csv table \(.*EOF inside string"):
        read_table(tmp_path, "scores")
    (tmp_path / "scores.csv").write_text("account_id,score\na,0.5,9\nb,0.1\n")
    with pytest.raises(RunFolderError, match="a row has more fields than the header"):
        read_table(tmp_path, "scores")
    (tmp_path / "scores.csv").write_text("id,score\na,0.5\n")
    with pytest.raises(RunFolderError, match=r"scores\.csv: not a run's scores table "
                       r"\(no column 'account_id'\)"):
        read_table(tmp_path, "scores")
    (tmp_path / "links.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(RunFolderError, match=r"links\.parquet: cannot read this table"):
        read_table(tmp_path, "links")

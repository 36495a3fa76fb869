"""The flag job end to end: outputs, rules a reviewer relies on, atomic writes,
determinism, and the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs import output
from ringfence.jobs.cli import main
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import read_table, write_run


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=6000, seed=3)


@pytest.fixture(scope="module")
def tables(platform):
    p = platform
    return load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)


@pytest.fixture(scope="module")
def files(platform, tmp_path_factory):
    d = tmp_path_factory.mktemp("platform")
    write_platform(platform, d, format="csv")
    return d


@pytest.fixture(scope="module")
def propagation_result(tables):
    return run_flag(tables, review_capacity=60, scorer="propagation")


def flag_args(d: Path, out: Path, *extra: str) -> list[str]:
    return ["flag", "--accounts", str(d / "accounts.csv.gz"),
            "--identifiers", str(d / "identifiers.csv.gz"), "--edges", str(d / "edges.csv.gz"),
            "--enforcement", str(d / "enforcement.csv.gz"), "--out", str(out), *extra]


def test_review_queue_rules(propagation_result):
    s = propagation_result.scores
    assert s["flagged"].sum() == 60
    assert not (s["flagged"] & s["banned"]).any()      # banned accounts are not flagged again
    assert not (s["flagged"] & s["cleared"]).any()     # a reviewer's clearance stands
    assert s["score"].between(0, 1).all()
    ranked = s.dropna(subset=["rank"]).sort_values("rank")
    assert (np.diff(ranked["score"].to_numpy()) <= 0).all()
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert s.loc[s["banned"] | s["cleared"], "rank"].isna().all()
    assert set(s.loc[s["flagged"], "rank"]) == set(range(1, 61))
    flagged = s[s["flagged"]]
    assert (flagged["reasons"].str.len() > 0).all()


def test_reasons_mask_identifier_values(propagation_result, platform):
    reasons = " ".join(propagation_result.scores["reasons"])
    assert "shares " in reasons and "banned " in reasons
    values = platform.identifiers["value"].astype(str).unique()
    long_values = [v for v in values if len(v) >= 6]
    assert not any(v in reasons for v in long_values[:5000])


def test_evidence_table_matches_reasons(propagation_result):
    ev = propagation_result.evidence
    s = propagation_result.scores.set_index("account_id")
    assert set(ev["account_id"]) <= set(s.index[s["flagged"]])
    assert ev.groupby("account_id")["path_rank"].max().max() <= 3
    banned = set(s.index[s["banned"]])
    assert set(ev["banned_account"]) <= banned
    for _, row in ev.head(20).iterrows():
        assert row["text"] in s.loc[row["account_id"], "reasons"]
        assert json.loads(row["path"])[0] == row["account_id"]


def test_threshold_flags_those_above(tables):
    r = run_flag(tables, threshold=0.3, scorer="propagation")
    s = r.scores
    eligible = ~s["banned"] & ~s["cleared"]
    assert (s["flagged"] == (eligible & (s["score"] >= 0.3))).all()
    with pytest.raises(ValueError, match="not both"):
        run_flag(tables, threshold=0.3, review_capacity=5)


def test_deterministic_for_a_seed(tables, monkeypatch):
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "fixed-key-for-test")
    a = run_flag(tables, review_capacity=40, scorer="propagation")
    b = run_flag(tables, review_capacity=40, scorer="propagation")
    pd.testing.assert_frame_equal(a.scores, b.scores)
    pd.testing.assert_frame_equal(a.clusters, b.clusters)
    pd.testing.assert_frame_equal(a.links, b.links)


def test_freeing_inputs_changes_nothing_but_the_tables(platform, monkeypatch):
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "fixed-key-for-test")
    p = platform
    kept = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    freed = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    a = run_flag(kept, review_capacity=40, scorer="propagation")
    b = run_flag(freed, review_capacity=40, scorer="propagation", release_inputs=True)
    assert kept.identifiers is not None and freed.identifiers is None and freed.edges is None
    pd.testing.assert_frame_equal(a.scores, b.scores)
    assert a.run["row_counts"] == b.run["row_counts"]
    assert b.run["row_counts"]["identifiers"] == len(kept.identifiers)


def test_outputs_written_atomically(propagation_result, tmp_path, monkeypatch):
    out = tmp_path / "run"
    write_run(propagation_result, out, "csv")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"scores.csv", "identities.csv", "links.csv", "clusters.csv", "evidence.csv",
            "run.json"} <= set(before)

    calls = {"n": 0}
    real = output.write_table

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


def test_cli_flag_writes_outputs_and_run_record(files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(flag_args(files, out, "--no-model", "--review-capacity", "25", "--format", "csv",
                          "--top", "3"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for stage in ("load and validate", "build graph", "link identities", "find clusters",
                  "propagate blacklist", "write outputs"):
        assert stage in captured.err
    assert "flagged           25" in captured.out
    assert "the 3 highest-risk accounts" in captured.out
    assert "model disabled" in captured.out
    scores = read_table(out, "scores")
    assert {"account_id", "score", "rank", "flagged", "identity_id", "cluster_id",
            "reasons"} <= set(scores.columns)
    assert scores["flagged"].sum() == 25
    run = json.loads((out / "run.json").read_text())
    for name in ("accounts", "identifiers", "edges", "enforcement"):
        assert len(run["inputs"][name]["sha256"]) == 64
    assert run["row_counts"]["accounts"] == 6000
    assert run["parameters"]["review_capacity"] == 25
    assert run["parameters"]["config"]["link_threshold"] == 0.5
    assert "pandas" in run["versions"] and "scikit-learn" in run["versions"]
    assert set(run["stage_seconds"]) >= {"build graph", "propagate blacklist"}


def test_cli_flag_needs_enforcement_and_a_link_table(files, tmp_path, capsys):
    code = main(["flag", "--accounts", str(files / "accounts.csv.gz"),
                 "--identifiers", str(files / "identifiers.csv.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--enforcement is required" in capsys.readouterr().err
    code = main(["flag", "--accounts", str(files / "accounts.csv.gz"),
                 "--enforcement", str(files / "enforcement.csv.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "needs --identifiers or --edges" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_bad_config_is_a_clear_error(files, tmp_path, capsys):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("share_limits: {ip: 0}\n")
    code = main(flag_args(files, tmp_path / "o", "--config", str(cfg)))
    err = capsys.readouterr().err
    assert code == 2
    assert "job.yaml" in err and "share_limits['ip'] must be an integer >= 2" in err
    assert not (tmp_path / "o").exists()


def test_cli_evaluate_reports_quality(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(flag_args(files, out, "--no-model", "--quiet")) == 0
    capsys.readouterr()
    assert main(["evaluate", "--scores", str(out), "--truth", str(files / "truth.csv.gz")]) == 0
    text = capsys.readouterr().out
    assert "ROC-AUC" in text and "precision at K" in text and "identity pairs" in text
    assert "full rotators" in text


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's resettable memory high-water mark")
def test_stage_peaks_are_each_stages_own():
    from ringfence.graph.progress import Stages, peak_rss_mib
    st = Stages(quiet=True)
    with st.stage("big"):
        block = np.ones(40_000_000)  # 305 MiB, touched
        del block
    with st.stage("small"):
        np.ones(1000)
    assert st.peak_mib["big"] > st.peak_mib["small"] + 250
    assert peak_rss_mib() >= st.peak_mib["big"] - 0.05  # the process's peak survives resets
                                                       # (stage peaks are rounded to 0.1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_a_job_started_by_a_big_process_reports_its_own_peak():
    import subprocess
    import sys
    ballast = np.ones(60_000_000)  # 458 MiB held by this process while it starts the child
    code = ("from ringfence.graph.progress import Stages, peak_rss_mib\n"
            "st = Stages(quiet=True)\n"
            "with st.stage('nothing'):\n    pass\n"
            "print(peak_rss_mib(), st.peak_mib['nothing'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    peak, stage = map(float, out.split())
    assert ballast.sum() == 60_000_000
    assert peak < 300 and stage < 300  # the child's own imports, not the parent's 458 MiB

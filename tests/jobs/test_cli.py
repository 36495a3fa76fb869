"""jobs/cli.py: flag and evaluate from the command line; clear errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.graph.synth import write_platform
from ringfence.jobs.cli import main
from ringfence.jobs.runs import read_table


@pytest.fixture(scope="module")
def files(platform, tmp_path_factory):
    d = tmp_path_factory.mktemp("platform")
    write_platform(platform, d, format="csv")
    return d


def flag_args(d: Path, out: Path, *extra: str) -> list[str]:
    return ["flag", "--accounts", str(d / "accounts.csv.gz"),
            "--identifiers", str(d / "identifiers.csv.gz"), "--edges", str(d / "edges.csv.gz"),
            "--enforcement", str(d / "enforcement.csv.gz"), "--out", str(out), *extra]


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


def test_backtest_command(tmp_path, capsys):
    from ringfence.graph.synth import generate_platform, write_platform
    write_platform(generate_platform(n_accounts=4000, seed=5), tmp_path, format="csv")
    args = ["backtest", "--cutoff", "2026-01-01", "--no-model", "--quiet"]
    for t in ("accounts", "identifiers", "edges", "enforcement"):
        args += [f"--{t}", str(tmp_path / f"{t}.csv.gz")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "known at 2026-01-01" in out and "banned afterwards" in out
    assert "ROC-AUC" in out
    assert main(args[:2] + ["not-a-date"] + args[3:]) == 2
    assert "--cutoff: not a date" in capsys.readouterr().err

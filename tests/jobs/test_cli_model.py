"""jobs/cli.py with saved models: train -> flag --model, unsigned or foreign models refused
with exit status 2 before anything is unpickled, --threads."""

from __future__ import annotations

import json
import re

import joblib
import pytest

from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main


class _WritesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling this creates the marker file
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("platform")
    # 1,500 accounts: 23 bans and 30 clearances, enough for the flag job to fit a model
    write_platform(generate_platform(n_accounts=1500, seed=5), d, format="csv")
    return d


def _inputs(d):
    return [arg for t in ("accounts", "identifiers", "edges", "enforcement")
            for arg in (f"--{t}", str(d / f"{t}.csv.gz"))]


def test_flag_refuses_a_crafted_model_before_reading_it(files, tmp_path, capsys):
    marker, model = tmp_path / "marker", tmp_path / "evil.joblib"
    joblib.dump({"model": _WritesMarker(marker), "card": {"format": 2}}, model)
    for command in (["flag", "--out", str(tmp_path / "o")], ["backtest", "--cutoff", "2026-01-01"]):
        code = main([*command, *_inputs(files), "--model", str(model), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"error: {model}: no signature (evil.joblib.sig is missing)" in err
        assert "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_train_then_flag_with_the_model(files, tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.joblib"
    assert main(["train", *_inputs(files), "--model-out", str(model), "--quiet",
                 "--threads", "1"]) == 0
    assert (tmp_path / "m.joblib.sig").exists()
    capsys.readouterr()
    out = tmp_path / "o"
    assert main(["flag", *_inputs(files), "--model", str(model), "--out", str(out), "--quiet",
                 "--threads", "2"]) == 0
    printed = capsys.readouterr()
    assert re.search(r"scoring +model", printed.out) and out.exists()
    assert "the model was trained" not in printed.err   # a fresh model: no warning
    # a nightly job on a frozen model is told when the model has grown old
    assert main(["flag", *_inputs(files), "--model", str(model), "--out", str(out), "--quiet",
                 "--max-model-age", "0.000001"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: .*m\.joblib: the model was trained 0 days ago .* more than the "
                     r"1e-06 days allowed", err)
    run = json.loads((out / "run.json").read_text())
    assert any("the model was trained" in w for w in run["warnings"])
    assert run["parameters"]["max_model_age_days"] == 1e-06
    # the inputs' schema changes after training: a new column is left out, with a warning;
    # a column the model needs is missing: refused, exit 2, no traceback
    import pandas as pd
    accounts = pd.read_csv(files / "accounts.csv.gz")
    others = [a for a in _inputs(files) if "accounts.csv.gz" not in a][1:]
    for name, frame in (("wider", accounts.assign(new_col=1.5)),
                        ("narrower", accounts.drop(columns=["country"]))):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    assert main(["flag", "--accounts", str(tmp_path / "wider.csv"), *others, "--model",
                 str(model), "--out", str(tmp_path / "w"), "--quiet", "--top", "0"]) == 0
    err = capsys.readouterr().err
    assert "the inputs' schema changed since the model was trained: 7 features it does not " \
           "know (attr_new_col," in err
    assert main(["flag", "--accounts", str(tmp_path / "narrower.csv"), *others, "--model",
                 str(model), "--out", str(tmp_path / "n"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "features it needs that this data lacks: ['attr_country']" in err
    assert "Traceback" not in err and not (tmp_path / "n").exists()
    monkeypatch.setenv("RINGFENCE_MODEL_KEY", "another machine's key")
    assert main(["flag", *_inputs(files), "--model", str(model), "--out", str(out)]) == 2
    assert "signed with another key" in capsys.readouterr().err


def test_threads_must_be_positive(files, tmp_path, capsys):
    assert main(["flag", *_inputs(files), "--out", str(tmp_path / "o"), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_threads_follow_the_environment_unless_given(monkeypatch, tmp_path, capsys):
    import argparse

    from ringfence.jobs.cli import _threads
    monkeypatch.delenv("RINGFENCE_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with _threads(argparse.Namespace(threads=None)) as n:
        assert n == 1
    with _threads(argparse.Namespace(threads=3)) as n:
        assert n == 3
    monkeypatch.setenv("RINGFENCE_THREADS", "none")
    code = main(["synth", "--accounts", "300", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "RINGFENCE_THREADS must be an integer >= 1, got 'none'" in err
    assert "Traceback" not in err

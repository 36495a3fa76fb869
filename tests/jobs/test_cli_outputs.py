"""jobs/cli.py: output paths checked before any work, damaged run folders and data
printed to the terminal: one line on stderr with exit status 2, or escaped text."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from ringfence.jobs import cli
from ringfence.jobs.cli import main
from ringfence.jobs.flag import run_flag
from helpers import small_tables


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Three small input files: two accounts sharing a device with a banned one."""
    d = tmp_path_factory.mktemp("inputs")
    pd.DataFrame({"account_id": ["a", "b", "banned1", "c1", "z"]}).to_csv(
        d / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["a", "b", "banned1"], "kind": "device", "value": "d1"}).to_csv(
        d / "identifiers.csv", index=False)
    pd.DataFrame({"account_id": ["banned1", "c1"], "action": ["ban", "cleared"],
                  "at": ["2026-01-01", "2026-01-02"]}).to_csv(d / "enforcement.csv", index=False)
    return d


def flag(inputs: Path, out: Path | str, *extra: str) -> list[str]:
    return ["flag", *(x for t in ("accounts", "identifiers", "enforcement")
                      for x in (f"--{t}", str(inputs / f"{t}.csv"))),
            "--out", str(out), "--no-model", *extra]


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A folder this process cannot create files in."""
    if os.geteuid() != 0:
        d = tmp_path / "locked"
        d.mkdir()
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
    elif Path("/sys/fs").is_dir():           # root writes anywhere but in sysfs
        yield Path("/sys/fs")
    else:
        pytest.skip("no folder this process cannot write in")


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, captured.err
    assert "Traceback" not in err
    return err


def test_flag_out_that_is_a_file_is_refused_before_loading(inputs, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    assert main(flag(inputs, out)) == 2
    err = one_line_error(capsys)
    assert err == (f"ringfence flag: error: --out {out}: exists and is not a folder (give a "
                   "folder to write the outputs in)")
    assert out.read_text() == "keep me"
    inside = out / "run"                                  # a folder under a file
    assert main(flag(inputs, inside)) == 2
    assert one_line_error(capsys) == (f"ringfence flag: error: --out {inside}: {out} is a "
                                      "file, not a folder")


def test_flag_out_checked_before_the_run(inputs, tmp_path, capsys, monkeypatch):
    def no_run(*a, **k):
        pytest.fail("the run started before --out was checked")

    monkeypatch.setattr("ringfence.jobs.flag.flag_files", no_run)
    (tmp_path / "f").write_text("")
    assert main(flag(inputs, tmp_path / "f")) == 2
    assert "exists and is not a folder" in one_line_error(capsys)


def test_flag_out_in_an_unwritable_folder(inputs, unwritable, capsys):
    out = unwritable / "ringfence-run"
    assert main(flag(inputs, out)) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"ringfence flag: error: --out {out}: cannot write in {unwritable} (")
    assert not out.exists()


def test_backtest_out_that_is_a_file(inputs, tmp_path, capsys):
    (tmp_path / "f").write_text("")
    args = ["backtest", "--cutoff", "2026-01-01", "--no-model", "--out", str(tmp_path / "f"),
            *(x for t in ("accounts", "identifiers", "enforcement")
              for x in (f"--{t}", str(inputs / f"{t}.csv")))]
    assert main(args) == 2
    assert "--out" in one_line_error(capsys)


@pytest.fixture(scope="module")
def runs(inputs, tmp_path_factory):
    """The same run written as Parquet and as CSV."""
    d = tmp_path_factory.mktemp("runs")
    for fmt in ("parquet", "csv"):
        assert main(flag(inputs, d / fmt, "--format", fmt, "--quiet")) == 0
    return d


def test_report_out_that_is_a_folder(runs, tmp_path, capsys):
    assert main(["report", "a", "--run", str(runs / "csv"), "--out", str(tmp_path)]) == 2
    assert one_line_error(capsys) == (f"ringfence report: error: --out {tmp_path}: is a folder "
                                      "(give the HTML file to write, e.g. case.html)")


def test_report_out_unwritable(runs, unwritable, capsys):
    out = unwritable / "case.html"
    assert main(["report", "a", "--run", str(runs / "csv"), "--out", str(out)]) == 2
    assert f"--out {out}: cannot write in {unwritable} (" in one_line_error(capsys)


def _damage(run: Path, fmt: str, how: str) -> Path:
    path = run / f"scores.{fmt}"
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"\x00\xff not a table \x01" * 10)
    elif how == "unterminated quote":
        path.write_text('account_id,score\n"a,0.5\nb,0.1\n')
    elif how == "extra field":
        path.write_text("account_id,score\na,0.5,9\nb,0.1\n")
    elif how == "no account_id":
        path.write_text("id,score\na,0.5\n")
    return path


@pytest.mark.parametrize("fmt, how", [("parquet", "truncated"), ("parquet", "garbage"),
                                      ("csv", "unterminated quote"), ("csv", "extra field"),
                                      ("csv", "garbage"), ("csv", "no account_id")])
def test_a_damaged_table_in_a_run_folder(runs, tmp_path, capsys, fmt, how):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / fmt, run)
    path = _damage(run, fmt, how)
    for args in (["report", "a", "--run", str(run), "--out", str(tmp_path / "case.html")],
                 ["evaluate", "--scores", str(run), "--truth", str(tmp_path / "truth.csv")]):
        pd.DataFrame({"account_id": ["a"], "is_offender": [1]}).to_csv(tmp_path / "truth.csv")
        assert main(args) == 2
        err = one_line_error(capsys)
        assert err.startswith(f"ringfence {args[0]}: error: {path}: "), err
    assert not (tmp_path / "case.html").exists()


HOSTILE = "\x1b[2J\x1b]0;pwned\x07"


def test_flag_top_escapes_ids_and_reasons(capsys):
    t = small_tables(["a", "b", "banned1"], identifiers=[(x, "device", "d1")
                                                        for x in ("a", "b", "banned1")],
                     enforcement=[("banned1", "ban", "2026-01-01")])
    result = run_flag(t, scorer="propagation", review_capacity=2)
    s = result.scores
    s.loc[s["account_id"] == "a", "account_id"] = "evil" + HOSTILE
    s.loc[s["flagged"], "reasons"] = "banned 2026-01-01 (" + HOSTILE + "\u200b)"
    cli._print_top(result, 5)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u200b" not in out
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07" in out
    assert "(\\x1b[2J\\x1b]0;pwned\\x07\\u200b)" in out


def test_error_messages_are_escaped(tmp_path, capsys):
    run = tmp_path / f"run{HOSTILE}"
    assert main(["report", "a", "--run", str(run), "--out", str(tmp_path / "c.html")]) == 2
    err = one_line_error(capsys)
    assert "\x1b" not in err and "run\\x1b[2J" in err


@pytest.mark.parametrize("command", [["synth", "--accounts", "100"], ["neo4j", "load"]])
def test_other_out_folders_checked_first(tmp_path, capsys, command):
    (tmp_path / "f").write_text("")
    assert main([*command, "--out", str(tmp_path / "f")]) == 2
    assert "exists and is not a folder" in one_line_error(capsys)

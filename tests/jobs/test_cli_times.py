"""jobs/cli.py: timestamps, --as-of, --cutoff and --time-format from the command line.

Each bad time is refused with exit status 2 and a clear message (never a traceback), options
before any table is read; a few far-future rows do not move the as-of time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main

TABLES = ("accounts", "identifiers", "edges", "enforcement")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("platform")
    write_platform(generate_platform(n_accounts=1500, seed=2), d, format="csv")
    return d


@pytest.fixture(scope="module")
def accounts(files) -> pd.DataFrame:
    return pd.read_csv(files / "accounts.csv.gz", dtype=str, keep_default_na=False)


def inputs(files: Path, **replaced: Path) -> list[str]:
    out = []
    for t in TABLES:
        out += [f"--{t}", str(replaced.get(t, files / f"{t}.csv.gz"))]
    return out


def run(capsys, args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def flag(capsys, files, out, *extra, **replaced):
    return run(capsys, ["flag", *inputs(files, **replaced), "--out", str(out), "--no-model",
                        "--quiet", "--top", "0", *extra])


def with_created_at(tmp_path, accounts, values) -> Path:
    path = tmp_path / "accounts.csv"
    df = accounts.copy()
    df["created_at"] = values
    df.to_csv(path, index=False)
    return path


def as_of(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["as_of"]


def unix(accounts: pd.DataFrame, scale: int) -> pd.Series:
    t = pd.to_datetime(accounts["created_at"], utc=True, format="ISO8601")
    seconds = (t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return (seconds * scale).astype(str)


@pytest.fixture(scope="module")
def baseline(files, tmp_path_factory):
    """The as-of time of a run on the unchanged platform."""
    out = tmp_path_factory.mktemp("base") / "out"
    assert main(["flag", *inputs(files), "--out", str(out), "--no-model", "--quiet",
                 "--top", "0"]) == 0
    return as_of(out)


def test_created_at_in_unix_milliseconds_is_read(capsys, files, accounts, tmp_path, baseline):
    path = with_created_at(tmp_path, accounts, unix(accounts, 1000))
    code, out, err = flag(capsys, files, tmp_path / "o", accounts=path)
    assert code == 0, err
    assert as_of(tmp_path / "o") == baseline
    assert f"note: {path}, column 'created_at': numbers read as Unix milliseconds" in out


@pytest.mark.parametrize("value", ["2300-01-01", "1600-01-01T00:00:00Z",
                                   "99999999999999999999999", "-1"])
def test_a_date_pandas_cannot_hold_is_refused(capsys, files, accounts, tmp_path, value):
    values = accounts["created_at"].copy()
    values[3] = value
    path = with_created_at(tmp_path, accounts, values)
    code, out, err = flag(capsys, files, tmp_path / "o", accounts=path)
    assert code == 2 and out == ""
    assert (f"{path}, column 'created_at': timestamp outside 1970-01-01 .. 2100-01-01"
            in err)
    assert f"line 5: account_id='{accounts['account_id'][3]}', created_at='{value}'" in err
    assert not (tmp_path / "o").exists()


def test_day_month_order_is_never_guessed(capsys, files, accounts, tmp_path):
    t = pd.to_datetime(accounts["created_at"], utc=True, format="ISO8601")
    path = with_created_at(tmp_path, accounts, t.dt.strftime("%d/%m/%Y"))
    code, out, err = flag(capsys, files, tmp_path / "o", accounts=path)
    assert code == 2
    assert f"{path}, column 'created_at': unparseable timestamp" in err
    assert "day/month order is ambiguous: give --time-format %d/%m/%Y" in err
    code, out, err = flag(capsys, files, tmp_path / "o", "--time-format", "%d/%m/%Y",
                          accounts=path)
    assert code == 0, err
    # the run records the format, so its case reports can read the inputs again
    assert json.loads((tmp_path / "o" / "run.json").read_text())["time_format"] == "%d/%m/%Y"


def test_validate_takes_a_time_format(capsys, files, accounts, tmp_path):
    path = with_created_at(tmp_path, accounts, ["03/01/2025"] * len(accounts))
    code, out, err = run(capsys, ["validate", "--accounts", str(path), "--time-format",
                                  "%d/%m/%Y"])
    assert code == 0, err
    assert "2025-01-03" in out


def test_a_few_far_future_rows_do_not_move_the_as_of_time(capsys, files, accounts, tmp_path,
                                                          baseline):
    values = accounts["created_at"].copy()
    values[[5, 6]] = "2090-01-01T00:00:00Z"
    path = with_created_at(tmp_path, accounts, values)
    code, out, err = flag(capsys, files, tmp_path / "o", accounts=path)
    assert code == 0, err
    assert as_of(tmp_path / "o") == baseline
    assert ("note: 2 timestamps more than 30 days after all the others ignored when choosing "
            f"the as-of time ({path}, column 'created_at': 2, e.g. 2090-01-01T00:00:00+00:00)"
            in out)
    assert "give --as-of to choose it yourself" in out


@pytest.mark.parametrize("value", ["1772323200", "1772323200000", "2026-03-01",
                                   "2026-03-01T01:00:00+01:00"])
def test_as_of_in_unix_time_or_iso(capsys, files, tmp_path, value):
    code, out, err = flag(capsys, files, tmp_path / "o", "--as-of", value)
    assert code == 0, err
    assert as_of(tmp_path / "o") == "2026-03-01T00:00:00+00:00"


@pytest.mark.parametrize("command, option, value, message", [
    ("flag", "--as-of", "next tuesday", "--as-of: not a date or time: 'next tuesday'"),
    ("flag", "--as-of", "3000-01-01", "--as-of: '3000-01-01' is outside 1970-01-01 .. 2100-01-01"),
    ("flag", "--as-of", "99999999999999999999", "--as-of: '99999999999999999999' is outside"),
    ("flag", "--as-of", "20260101", "--as-of: '20260101' is ambiguous"),
    ("train", "--as-of", "3000-01-01", "--as-of: '3000-01-01' is outside"),
    ("backtest", "--cutoff", "3000-01-01", "--cutoff: '3000-01-01' is outside"),
    ("backtest", "--cutoff", "01/02/2026", "--cutoff: not a date or time: '01/02/2026'"),
])
def test_bad_times_are_refused_before_loading(capsys, tmp_path, command, option, value, message):
    # the input files do not exist: the option is checked before any table is read
    missing = tmp_path / "missing"
    args = [command, *inputs(missing), option, value, "--no-model" if command != "train" else
            "--quiet"]
    args += {"flag": ["--out", str(tmp_path / "o")], "train": ["--model-out", "m.joblib"],
             "backtest": []}[command]
    code, out, err = run(capsys, args)
    assert code == 2
    assert err.startswith(f"ringfence {command}: error: {message}")
    assert err.count("\n") == 1, err  # one line
    assert "file not found" not in err


@pytest.mark.parametrize("cutoff, message", [
    ("2099-01-01", "leaves nothing to measure: no account is banned after it"),
    ("1971-01-01", "is before the data: no account and ban known by then"),
])
def test_backtest_cutoff_outside_the_data(capsys, files, cutoff, message):
    code, out, err = run(capsys, ["backtest", *inputs(files), "--cutoff", cutoff, "--no-model",
                                  "--quiet"])
    assert code == 2
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("extra", [(), ("--as-of", "2026-01-01")])
def test_a_bad_time_format_is_refused_with_its_directive(capsys, files, tmp_path, extra):
    # a directive pandas does not know used to escape as a traceback (exit 1)
    code, _, err = flag(capsys, files, tmp_path / "out", "--time-format", "%d/%m/%Y %Q", *extra)
    assert code == 2
    assert "--time-format '%d/%m/%Y %Q' is not a strptime format" in err
    assert "'Q' is a bad directive" in err
    assert not (tmp_path / "out").exists()

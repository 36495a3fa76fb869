"""ringfence decide and flag --decisions: an append-only log the next run honours."""

from __future__ import annotations

import getpass
import json
import re
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main
from ringfence.jobs.decisions_log import append_decision, read_logged
from ringfence.jobs.runs import read_run, read_table

HEADER = "at,account_id,decision,by,reason"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("platform")
    write_platform(generate_platform(n_accounts=1500, seed=5), d, format="csv")
    return d


def _accounts(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text("account_id\nacct_1\nacct_2\n-7\n")
    return path


def _decide(log: Path, *args: str) -> int:
    return main(["decide", *args, "--log", str(log)])


def test_decide_appends_dated_rows_and_never_rewrites(tmp_path, capsys):
    log = tmp_path / "decisions.csv"
    before = pd.Timestamp.now(tz="UTC")
    assert _decide(log, "acct_1", "cleared", "--reason", "known customer, ticket 881") == 0
    first = log.read_bytes()
    assert _decide(log, "acct_2", "lifted", "--reason", "appeal won", "--by", "bo",
                   "--at", "2026-03-01T10:00:00+01:00") == 0
    assert log.read_bytes().startswith(first)  # appended, the first row untouched
    lines = log.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 3
    assert lines[2] == "2026-03-01T09:00:00Z,acct_2,lifted,bo,appeal won"
    t = load_tables(_accounts(tmp_path), decisions=log)
    row = t.decisions.iloc[0]
    assert (row["account_id"], row["decision"], row["by"]) == ("acct_1", "cleared",
                                                               getpass.getuser())
    assert row["reason"] == "known customer, ticket 881"
    assert before <= row["at"] <= pd.Timestamp.now(tz="UTC")
    assert "acct_1 cleared by" in capsys.readouterr().out


def test_validate_reads_the_log_and_warns_about_undated_clearances(tmp_path, capsys):
    log = tmp_path / "decisions.csv"
    assert _decide(log, "acct_1", "cleared", "--reason", "ok") == 0
    assert _decide(log, "acct_2", "confirmed", "--reason", "ring") == 0
    enf = tmp_path / "enforcement.csv"
    enf.write_text("account_id,action,at\nacct_2,ban,2026-01-01\nacct_2,lifted,\n")
    capsys.readouterr()
    assert main(["validate", "--accounts", str(_accounts(tmp_path)), "--enforcement", str(enf),
                 "--decisions", str(log)]) == 0
    captured = capsys.readouterr()
    assert re.search(r"decisions_by_kind +cleared: 1, confirmed: 1\n", captured.out)
    assert f"warning: {enf}, column 'at': 1 undated 'cleared' or 'lifted' row" in captured.err
    assert "line 3: account_id='acct_2', action='lifted'" in captured.err


def _append_many(log: str, who: str) -> None:
    for i in range(40):
        append_decision(log, f"acct_{i}", "cleared", reason=f"{who} row {i} " + "x" * 300,
                        by=who, at=pd.Timestamp("2026-03-01", tz="UTC"))


def test_concurrent_appends_all_land_whole(tmp_path):
    log = tmp_path / "decisions.csv"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(log), who)) for who in ("ana", "bo")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    lines = log.read_text().splitlines()
    assert lines.count(HEADER) == 1 and lines[0] == HEADER
    df = pd.read_csv(log, dtype=str)
    assert len(df) == 80
    for who in ("ana", "bo"):  # every row whole: its reason names its own writer
        mine = df[df["by"] == who]
        assert len(mine) == 40 and mine["reason"].str.startswith(f"{who} row ").all()


def test_cells_cannot_become_formulas(tmp_path):
    log = tmp_path / "decisions.csv"
    assert main(["decide", "--reason", "=HYPERLINK(\"http://x\")", "--by", "@bo",
                 "--log", str(log), "--", "-7", "confirmed"]) == 0
    assert log.read_text().splitlines()[1].split(",", 1)[1] == \
        "'-7,confirmed,'@bo,\"'=HYPERLINK(\"\"http://x\"\")\""
    row = load_tables(_accounts(tmp_path), decisions=log).decisions.iloc[0]
    assert (row["account_id"], row["by"], row["reason"]) == ("-7", "@bo",
                                                             "=HYPERLINK(\"http://x\")")


@pytest.mark.parametrize("args, message", [
    (["acct_1", "cleared", "--reason", "  "], "--reason: empty"),
    (["acct_1", "cleared", "--reason", "ok\nDROP"], "--reason ok\\nDROP: holds control"),
    (["acct_1", "cleared", "--reason", "ok", "--by", "a\x1b[31mb"], "--by a\\x1b[31mb: holds"),
    (["acct_9", "cleared", "--reason", "ok", "--accounts", "{accounts}"],
     "account 'acct_9' is not in"),
    (["acct_1", "cleared", "--reason", "ok", "--at", "2099-01-01"], "in the future"),
    (["acct_1", "cleared", "--reason", "ok", "--at", "yesterday"], "--at: "),
])
def test_decide_refuses_bad_decisions(tmp_path, capsys, args, message):
    log = tmp_path / "decisions.csv"
    args = [a.replace("{accounts}", str(_accounts(tmp_path))) for a in args]
    assert _decide(log, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not log.exists()


def test_decide_refuses_unknown_words_and_foreign_files(tmp_path, capsys):
    log = tmp_path / "decisions.csv"
    with pytest.raises(SystemExit) as e:
        _decide(log, "acct_1", "forgiven", "--reason", "x")
    assert e.value.code == 2 and "invalid choice: 'forgiven'" in capsys.readouterr().err
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    assert _decide(other, "acct_1", "cleared", "--reason", "x") == 2
    assert "not a decisions log" in capsys.readouterr().err
    assert other.read_text() == "a,b\n1,2\n"
    unfinished = tmp_path / "unfinished.csv"
    unfinished.write_text(HEADER + "\n2026-01-01,acct_1,cleared,ana,half a li")
    assert _decide(unfinished, "acct_1", "cleared", "--reason", "x") == 2
    assert "the last line is unfinished" in capsys.readouterr().err


def _flag(files: Path, out: Path, *extra: str) -> list[str]:
    return ["flag", "--accounts", str(files / "accounts.csv.gz"),
            "--identifiers", str(files / "identifiers.csv.gz"),
            "--edges", str(files / "edges.csv.gz"),
            "--enforcement", str(files / "enforcement.csv.gz"), "--out", str(out),
            "--no-model", "--quiet", "--review-capacity", "30", *extra]


@pytest.mark.slow
def test_flag_honours_the_log_and_records_it(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(_flag(files, tmp_path / "night1")) == 0
    night1 = read_table(tmp_path / "night1", "scores").set_index("account_id")
    banned = night1.index[night1["banned"]][0]
    top = night1[night1["flagged"]].sort_values("rank").index[:2]
    log = tmp_path / "decisions.csv"
    for account, decision in ((banned, "lifted"), (top[0], "cleared"), (top[1], "confirmed")):
        assert _decide(log, account, decision, "--reason", f"{decision} after review <i>x</i>",
                       "--by", "ana", "--run", str(tmp_path / "night1")) == 0
    capsys.readouterr()
    # the YAML key works like the option
    (tmp_path / "job.yaml").write_text(f"decisions: {log}\n")
    assert main(_flag(files, tmp_path / "night2", "--config", str(tmp_path / "job.yaml"))) == 0
    assert "decisions         3" in capsys.readouterr().out
    night2 = read_table(tmp_path / "night2", "scores").set_index("account_id")
    assert not night2.loc[banned, "banned"] and not pd.isna(night2.loc[banned, "rank"])
    assert night2.loc[top[0], "cleared"] and not night2.loc[top[0], "flagged"]
    assert night2.loc[top[1], "banned"] and pd.isna(night2.loc[top[1], "rank"])
    assert night2.loc[top[1], "decision"] == "confirmed"
    assert night2.loc[top[1], "decided_by"] == "ana"
    assert (night2["decision"] != "").sum() == 3
    assert night2["decided_at"].notna().sum() == 3
    run = json.loads((tmp_path / "night2" / "run.json").read_text())
    rec = run["inputs"]["decisions"]
    assert rec["rows"] == 3 and rec["bytes"] == log.stat().st_size
    assert rec["path"] == str(log.resolve()) and len(rec["sha256"]) == 64

    # the log grows; the run still reads (and reports) exactly the three rows it saw
    assert _decide(log, top[1], "lifted", "--reason", "later: wrong person") == 0
    assert len(read_run(tmp_path / "night2").decisions()) == 3
    page = tmp_path / "case.html"
    assert main(["report", top[1], "--run", str(tmp_path / "night2"),
                 "--out", str(page)]) == 0, capsys.readouterr().err
    html = page.read_text()
    decisions = html.split('id="decisions"')[1].split("</section>")[0]
    assert "confirmed after review &lt;i&gt;x&lt;/i&gt;" in decisions  # escaped, not markup
    assert "<i>" not in html and "wrong person" not in decisions
    assert ">ana<" in decisions


@pytest.mark.slow
def test_a_bad_log_stops_the_run_with_the_line(files, tmp_path, capsys):
    log = tmp_path / "decisions.csv"
    log.write_text(HEADER + "\n2026-01-01,acct_0000001,cleared,ana,ok\n"
                   "2026-01-02,ghost,cleared,ana,ok\n,acct_0000002,lifted,bo,no date\n")
    assert main(_flag(files, tmp_path / "out", "--decisions", str(log))) == 2
    err = capsys.readouterr().err
    assert f"{log}, column 'account_id': references an account_id that is not in the " \
           "accounts table (1 row)" in err
    assert "line 3: account_id='ghost'" in err
    assert f"{log}, column 'at': no time" in err and "line 4: account_id='acct_0000002'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_undated_clearance_is_warned_about_and_applied(files, tmp_path, capsys):
    enf = pd.read_csv(files / "enforcement.csv.gz", dtype=str, keep_default_na=False)
    banned = enf.loc[(enf["action"] == "ban") & (enf["at"] != ""), "account_id"].iloc[0]
    enf = pd.concat([enf, pd.DataFrame([{"account_id": banned, "action": "cleared",
                                         "at": "", "reason": "reviewed"}])])
    path = tmp_path / "enforcement.csv"
    enf.to_csv(path, index=False)
    args = _flag(files, tmp_path / "out")
    args[args.index("--enforcement") + 1] = str(path)
    assert main(args) == 0
    err = capsys.readouterr().err
    line = len(enf) + 1
    assert f"warning: {path}, column 'at': 1 undated 'cleared' or 'lifted' row" in err
    assert f"line {line}: account_id='{banned}'" in err
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert len(run["warnings"]) == 1 and banned in run["warnings"][0]
    scores = read_table(tmp_path / "out", "scores").set_index("account_id")
    assert scores.loc[banned, "cleared"] and not scores.loc[banned, "banned"]


def test_read_logged_refuses_a_rewritten_log(tmp_path):
    log = tmp_path / "decisions.csv"
    append_decision(log, "a", "cleared", reason="ok", by="ana",
                    at=pd.Timestamp("2026-01-01", tz="UTC"))
    from ringfence.jobs.decisions_log import reading_log

    with reading_log(log) as record:
        pass
    append_decision(log, "b", "lifted", reason="later", by="ana",
                    at=pd.Timestamp("2026-01-02", tz="UTC"))
    assert read_logged(log, record)["account_id"].tolist() == ["a"]
    log.write_text(log.read_text().replace("ok", "OK"))
    assert read_logged(log, record) is None

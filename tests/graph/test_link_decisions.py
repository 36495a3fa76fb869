"""graph/link_decisions.py and its place in load_tables: reviewers' decisions on account pairs."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from ringfence.graph.tables import InputError, InputWarning, load_tables
from ringfence.jobs.cli import main

ACCOUNTS = pd.DataFrame({"account_id": ["a", "b", "c", "d"]})
HEADER = "account_a,account_b,decision,decided_at,decided_by,reason\n"


def decisions(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


def load(tmp_path, text: str):
    acc = tmp_path / "accounts.csv"
    ACCOUNTS.to_csv(acc, index=False)
    path = tmp_path / "link_decisions.csv"
    path.write_text(text)
    return load_tables(acc, link_decisions=path)


def refusal(tmp_path, text: str) -> str:
    with pytest.raises(InputError) as e:
        load(tmp_path, text)
    return str(e.value)


def test_valid_decisions_round_trip_in_canonical_order(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load(tmp_path, decisions("b,a,same_actor,2026-01-02T10:00:00Z,ana,same phone",
                                     "c,d, Different_Actors ,2026-01-03,bo,",
                                     "a,b,same_actor,2026-01-02T10:00:00Z,ana,same phone"))
    ld = t.link_decisions
    # the second a/b row is the first written the other way round: an exact duplicate
    assert [str(w.message) for w in caught if w.category is InputWarning] == [
        f"{tmp_path / 'link_decisions.csv'}: dropped 1 exact duplicate row"]
    assert ld[["account_a", "account_b", "decision", "decided_by"]].values.tolist() == [
        ["a", "b", "same_actor", "ana"], ["c", "d", "different_actors", "bo"]]
    assert ld["decided_at"].tolist() == [pd.Timestamp("2026-01-02T10:00:00Z"),
                                         pd.Timestamp("2026-01-03T00:00:00Z")]
    assert ld["reason"].tolist() == ["same phone", ""]
    assert t.summary()["link_decisions"] == {"different_actors": 1, "same_actor": 1}
    assert t.sources["link_decisions"].endswith("link_decisions.csv")


def test_decisions_do_not_move_the_as_of_time(tmp_path):
    acc = pd.DataFrame({"account_id": ["a", "b"], "created_at": ["2025-01-01", "2025-02-01"]})
    ld = pd.DataFrame({"account_a": ["a"], "account_b": ["b"], "decision": ["same_actor"],
                       "decided_at": ["2026-06-01"], "decided_by": ["ana"]})
    t = load_tables(acc, link_decisions=ld)
    assert t.newest_timestamp() == pd.Timestamp("2025-02-01", tz="UTC")


@pytest.mark.parametrize("row, column, message, line", [
    ("a,x,same_actor,2026-01-01,ana,", "account_b",
     "references an account_id that is not in the accounts table", "line 2: account_a='a', "
     "account_b='x'"),
    ("c,c,same_actor,2026-01-01,ana,", "account_b", "a pair of an account with itself",
     "line 2: account_a='c', account_b='c'"),
    ("a,b,same_actor,,ana,", "decided_at", "a decision without a date",
     "line 2: account_a='a', account_b='b', decided_at=NaT"),
    ("a,b,maybe,2026-01-01,ana,", "decision", "unknown decision; expected one of same_actor, "
     "different_actors", "line 2: account_a='a', account_b='b', decision='maybe'"),
    ("a,b,same_actor,2026-01-01,,", "decided_by", "a decision without a reviewer",
     "line 2: account_a='a', account_b='b', decided_by=''"),
])
def test_each_refusal_names_file_column_and_row(tmp_path, row, column, message, line):
    text = refusal(tmp_path, decisions(row))
    assert f"link_decisions.csv, column '{column}': {message}" in text
    assert line in text


def test_a_pair_marked_both_ways_is_refused_in_either_order(tmp_path):
    text = refusal(tmp_path, decisions("a,b,same_actor,2026-01-01,ana,",
                                       "c,d,same_actor,2026-01-01,ana,",
                                       "b,a,different_actors,2026-02-01,bo,"))
    assert "column 'decision': a pair marked both same_actor and different_actors" in text
    assert "(2 rows)" in text
    assert "line 2: account_a='a', account_b='b', decision='same_actor'" in text
    assert "line 4: account_a='a', account_b='b', decision='different_actors'" in text
    assert "'c'" not in text


def test_every_problem_is_reported_at_once(tmp_path):
    text = refusal(tmp_path, decisions("a,x,same_actor,2026-01-01,ana,", "c,c,same_actor,,ana,"))
    assert text.startswith("3 problems in the input")


def test_a_missing_date_column_is_refused(tmp_path):
    text = refusal(tmp_path, "account_a,account_b,decision,decided_by\na,b,same_actor,ana\n")
    assert "column 'decided_at': missing required column" in text


def _flag_files(d):
    pd.DataFrame({"account_id": ["a", "b", "c"]}).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["a", "b"], "kind": "device", "value": "d1"}).to_csv(
        d / "identifiers.csv", index=False)
    pd.DataFrame({"account_id": ["a"], "action": ["ban"], "at": ["2026-01-01"]}).to_csv(
        d / "enforcement.csv", index=False)
    return ["flag", "--accounts", str(d / "accounts.csv"), "--identifiers",
            str(d / "identifiers.csv"), "--enforcement", str(d / "enforcement.csv"),
            "--no-model", "--quiet", "--top", "0", "--out", str(d / "out"),
            "--link-decisions", str(d / "ld.csv")]


def test_cli_flag_refuses_bad_decisions_with_exit_2(tmp_path, capsys):
    args = _flag_files(tmp_path)
    (tmp_path / "ld.csv").write_text(decisions("a,zz,same_actor,2026-01-01,ana,"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "ld.csv, column 'account_b': references an account_id that is not in the accounts" \
        in err and "account_b='zz'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_flag_records_the_decisions_among_its_inputs(tmp_path):
    args = _flag_files(tmp_path)
    (tmp_path / "ld.csv").write_text(decisions("b,a,same_actor,2026-01-01,ana,"))
    assert main(args) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["inputs"]["link_decisions"]["path"] == str((tmp_path / "ld.csv").resolve())
    assert len(run["inputs"]["link_decisions"]["sha256"]) == 64
    assert run["row_counts"]["link_decisions"] == 1

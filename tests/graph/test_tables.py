"""The input contract through the command line: every bad-input class gets one
clear error naming the file, the column, the row count and example rows, and
exit status 2."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ringfence.graph import InputError, InputWarning, load_tables
from ringfence.jobs.cli import main

ACCOUNTS = "account_id,created_at,country,logins\na1,2025-01-01T00:00:00Z,de,3\na2,1735689600,fr,5\na3,,de,\n"
IDENTIFIERS = "account_id,kind,value,seen_at\na1,device,d1,2025-02-01\na2,device,d1,2025-02-02\na3,ip,1.2.3.4,\n"
EDGES = "src,dst,kind,weight,at,amount\na1,a2,transfer,2.5,2025-03-01,10.0\na2,a3,message,,,\n"
ENFORCEMENT = "account_id,action,at,reason\na1,ban,2025-04-01,fraud\na2,violation,2025-03-15,spam\na3,cleared,,\n"


def write(tmp_path: Path, name: str, text: str | bytes, gz: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    if gz:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def run(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def good(tmp_path):
    return {
        "accounts": write(tmp_path, "accounts.csv", ACCOUNTS),
        "identifiers": write(tmp_path, "identifiers.csv.gz", IDENTIFIERS, gz=True),
        "edges": write(tmp_path, "edges.csv", EDGES),
        "enforcement": write(tmp_path, "enforcement.csv", ENFORCEMENT),
    }


def args_for(paths: dict[str, Path]) -> list[str]:
    out = ["validate"]
    for k, v in paths.items():
        out += [f"--{k}", str(v)]
    return out


def test_valid_input_prints_summary(capsys, good):
    code, out, err = run(capsys, *args_for(good))
    assert code == 0, err
    assert "input is valid" in out
    assert "accounts" in out and " 3" in out
    assert "ban: 1" in out and "cleared: 1" in out and "violation: 1" in out
    assert "device: 1" in out and "ip: 1" in out


def test_types_after_loading(good):
    t = load_tables(**good)
    assert str(t.accounts["created_at"].dtype) == "datetime64[ns, UTC]"
    # Unix seconds and ISO 8601 land on the same instant
    assert t.accounts["created_at"][1] == pd.Timestamp("2025-01-01", tz="UTC")
    assert t.accounts["created_at"][0] == pd.Timestamp("2025-01-01", tz="UTC")
    assert pd.isna(t.accounts["created_at"][2])
    assert t.accounts["country"].dtype == "category"
    assert pd.api.types.is_numeric_dtype(t.accounts["logins"])
    assert t.edges["weight"].tolist() == [2.5, 1.0]  # default weight 1
    assert t.enforcement["action"].tolist() == ["ban", "violation", "cleared"]


def test_parquet_and_dataframe_inputs(tmp_path, good):
    t = load_tables(**good)
    pq = tmp_path / "ids.parquet"
    t.identifiers.to_parquet(pq)
    t2 = load_tables(accounts=t.accounts, identifiers=pq)
    assert t2.identifiers["value"].tolist() == ["d1", "d1", "1.2.3.4"]


@pytest.mark.parametrize(
    "table,text,column,message,n_rows,example",
    [
        ("accounts", "acount_id,created_at\na1,\n", "account_id",
         "found 'acount_id': misspelled?", 0, None),
        ("identifiers", "account_id,knd,value\na1,device,d\n", "kind", "misspelled?", 0, None),
        ("edges", "src,dst,kind,wieght\na1,a2,transfer,1\n", "wieght",
         "looks like a misspelling of 'weight'", 0, None),
        ("accounts", "account_id\na1\n\"\"\na2\n", "account_id", "empty id", 1, "line 3"),
        ("accounts", "account_id\na1\na2\na1\n", "account_id", "duplicate account_id", 2,
         "line 4: account_id='a1'"),
        ("identifiers", "account_id,kind,value\na1,device,d1\nghost,device,d1\n", "account_id",
         "not in the accounts table", 1, "line 3: account_id='ghost'"),
        ("edges", "src,dst,kind\na1,ghost,transfer\nghost2,a2,transfer\n", "dst",
         "not in the accounts table", 1, "line 2: src='a1', dst='ghost'"),
        ("enforcement", "account_id,action\na1,ban\na2,banned\na3,suspend\n", "action",
         "unknown action; expected one of ban, violation, cleared", 2,
         "line 3: account_id='a2', action='banned'"),
        ("enforcement", "account_id,action,at\na1,ban,2025-13-45\na2,ban,yesterday\n", "at",
         "unparseable timestamp", 2, "line 3: account_id='a2', at='yesterday'"),
        ("identifiers", "account_id,kind,value,seen_at\na1,device,d1,not-a-time\n", "seen_at",
         "unparseable timestamp", 1, "line 2"),
        ("edges", "src,dst,kind,weight\na1,a2,transfer,0\na2,a3,transfer,-1\na1,a3,t,2\n",
         "weight", "positive", 2, "line 2: src='a1', dst='a2', weight='0'"),
        ("edges", "src,dst,kind,weight\na1,a2,transfer,heavy\n", "weight", "not a number", 1,
         "line 2"),
        ("identifiers", "account_id,kind,value\na1,Device,d1\n", "kind", "lower-case token", 1,
         "line 2"),
        ("identifiers", "account_id,kind,value\na1,device,\n", "value",
         "empty identifier value", 1, "line 2"),
    ],
)
def test_bad_input_classes(capsys, tmp_path, good, table, text, column, message, n_rows,
                           example):
    paths = dict(good)
    paths[table] = write(tmp_path, f"bad_{table}.csv", text)
    code, out, err = run(capsys, *args_for(paths))
    assert code == 2
    assert out == ""
    assert f"bad_{table}.csv" in err
    assert f"column '{column}'" in err
    assert message in err
    if n_rows:
        assert f"({n_rows} row{'s' if n_rows > 1 else ''})" in err
    if example:
        assert example in err


def test_many_bad_rows_show_five_examples_and_the_count(capsys, tmp_path, good):
    rows = "".join(f"a1,ban,bad{i}\n" for i in range(12))
    paths = dict(good, enforcement=write(tmp_path, "enf.csv", "account_id,action,at\n" + rows))
    code, _, err = run(capsys, *args_for(paths))
    assert code == 2
    assert "(12 rows)" in err
    assert err.count("at='bad") == 5


def test_all_problem_classes_reported_together(capsys, tmp_path, good):
    paths = dict(good,
                 enforcement=write(tmp_path, "enf.csv", "account_id,action\na1,bann\nzz,ban\n"),
                 edges=write(tmp_path, "edges.csv", "src,dst,kind,weight\na1,a2,transfer,-3\n"))
    code, _, err = run(capsys, *args_for(paths))
    assert code == 2
    assert "3 problems in the input" in err
    assert "unknown action" in err and "not in the accounts table" in err and "positive" in err


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.csv", b"", "file is empty"),
        ("empty.csv.gz", gzip.compress(b"", mtime=0), "file is empty"),
        ("header_only.csv", b"account_id,created_at\n", "no rows"),
        ("plain.csv.gz", b"account_id\na1\n", "not a gzip file"),
        ("text.parquet", b"account_id\na1\n", "not a Parquet file"),
        ("zipped.csv", gzip.compress(b"account_id\na1\n", mtime=0), "looks like gzip"),
        ("latin1.csv", "account_id,city\na1,M\u00fcnchen\n".encode("latin-1"), "not UTF-8"),
        ("accounts.xlsx", b"whatever", "unknown file type"),
        ("missing.csv", None, "file not found"),
    ],
)
def test_bad_files(capsys, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, "validate", "--accounts", path)
    assert code == 2
    assert name in err
    assert message in err


def test_non_utf8_names_the_line(capsys, tmp_path):
    path = write(tmp_path, "acc.csv", "account_id,city\na1,Berlin\na2,M\u00fcnchen\n".encode("cp1252"))
    code, _, err = run(capsys, "validate", "--accounts", path)
    assert code == 2 and "line 3" in err


def test_duplicates_and_self_loops_dropped_with_counts(capsys, tmp_path, good):
    paths = dict(good,
                 edges=write(tmp_path, "e.csv", "src,dst,kind\na1,a2,transfer\na1,a2,transfer\n"
                             "a1,a2,transfer\na3,a3,message\n"),
                 identifiers=write(tmp_path, "i.csv", "account_id,kind,value\na1,device,d\n"
                                   "a1,device,d\n"))
    code, out, err = run(capsys, *args_for(paths))
    assert code == 0, err
    assert "dropped 2 exact duplicate rows" in out
    assert "dropped 1 exact duplicate row" in out
    assert "dropped 1 self-loop" in out
    with pytest.warns(InputWarning, match="self-loop"):
        t = load_tables(**paths)
    assert len(t.edges) == 1 and len(t.identifiers) == 1


def test_problems_after_dropped_duplicates_name_the_right_line(capsys, tmp_path, good):
    # lines 2 and 3 are the same observation once typed (padding and timestamp format differ);
    # the bad timestamp and the unknown account further down keep their own line numbers
    paths = dict(good, identifiers=write(
        tmp_path, "i.csv", "account_id,kind,value,seen_at\na1,device,d1,2025-02-01T00:00:00Z\n"
        " a1,device,d1,1738368000\na2,device,d2,yesterday\nzz,device,d3,\n"))
    code, out, err = run(capsys, *args_for(paths))
    assert code == 2
    assert "column 'seen_at': unparseable timestamp" in err and "line 4: account_id='a2'" in err
    assert "references an account_id" in err and "line 5: account_id='zz'" in err
    fixed = dict(paths, identifiers=write(
        tmp_path, "j.csv", "account_id,kind,value,seen_at\na1,device,d1,2025-02-01T00:00:00Z\n"
        " a1,device,d1,1738368000\na2,device,d2,\n"))
    with pytest.warns(InputWarning, match="dropped 1 exact duplicate row"):
        t = load_tables(**fixed)
    assert t.identifiers["value"].tolist() == ["d1", "d2"]


def test_id_encodings_are_reused_and_follow_edits(good):
    t = load_tables(**good)
    first = t.account_positions("identifiers")
    assert first.tolist() == [0, 1, 2]
    assert t.account_positions("identifiers") is first          # computed once, while loading
    assert t.value_codes("identifiers", "value").tolist() == [0, 0, 1]
    assert t.account_positions("edges", "dst").tolist() == [1, 2]
    # an investigator edits a table in place or replaces it: the encodings follow
    t.identifiers.loc[0, "account_id"] = "a3"
    t.identifiers.loc[2, "value"] = "d1"
    assert t.account_positions("identifiers").tolist() == [2, 1, 2]
    assert t.value_codes("identifiers", "value").tolist() == [0, 0, 0]
    t.accounts = t.accounts.iloc[::-1].reset_index(drop=True)
    assert t.account_positions("identifiers").tolist() == [0, 1, 0]
    t.edges = t.edges.assign(dst=["a1", "zz"])
    assert t.account_positions("edges", "dst").tolist() == [2, -1]


def test_load_tables_raises_input_error(good):
    with pytest.raises(InputError) as e:
        load_tables(pd.DataFrame({"account_id": ["x", "x"]}))
    assert e.value.problems[0].n_rows == 2


@pytest.mark.slow  # a subprocess
def test_console_script_exit_status(tmp_path):
    """The installed `ringfence` command exits 2 on bad input (not only main())."""
    exe = shutil.which("ringfence", path=str(Path(sys.executable).parent))
    assert exe, "the ringfence console script is not installed next to this python"
    bad = write(tmp_path, "accounts.csv", "account_id\na\na\n")
    r = subprocess.run([exe, "validate", "--accounts", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "duplicate account_id" in r.stderr and "accounts.csv" in r.stderr
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "input contract" in r.stdout and "enforcement" in r.stdout


def test_tables_drop_refuses_accounts():
    t = load_tables(pd.DataFrame({"account_id": ["a"]}))
    with pytest.raises(ValueError, match="cannot drop 'accounts'"):
        t.drop("accounts")


# --------------------------------------------------------------------------- ids and columns


def test_whitespace_around_ids_is_stripped_the_same_for_every_row(capsys, tmp_path, good):
    # a tab and an NBSP around ids, and no row padded with a plain space: before, they were
    # other accounts (stripped only when some row of the column had a plain space)
    paths = dict(good, identifiers=write(
        tmp_path, "i.csv", "account_id,kind,value\na1\t,device,d1\n\u00a0a2,device,\u2003d1\n"),
        edges=write(tmp_path, "e.csv", "src,dst,kind\n\ta1,a3\u00a0,transfer\n"))
    code, out, err = run(capsys, *args_for(paths))
    assert code == 0, err
    assert "i.csv, column 'account_id': stripped surrounding whitespace" in out
    assert "from 2 values" in out
    assert "i.csv, column 'value': stripped surrounding whitespace (spaces, tabs, NBSP...) " \
           "from 1 value" in out
    assert "e.csv, column 'src'" in out and "e.csv, column 'dst'" in out
    t = load_tables(**paths)
    assert t.identifiers["account_id"].tolist() == ["a1", "a2"]
    assert t.identifiers["value"].tolist() == ["d1", "d1"]
    assert t.edges[["src", "dst"]].values.tolist() == [["a1", "a3"]]


@pytest.mark.parametrize("table,text,column,example", [
    ("accounts", "account_id\na1\na2\na\x00b\n", "account_id", "line 4: account_id='a\\x00b'"),
    ("accounts", "account_id\na1\na2\na3\na\u200b1\n", "account_id",
     "line 5: account_id='a\\u200b1'"),
    ("accounts", "account_id\na1\na2\na3\n\"x\ny\"\n", "account_id", "account_id='x\\ny'"),
    ("identifiers", "account_id,kind,value\na1,device,d\u202e1\n", "value",
     "line 2: account_id='a1', kind='device', value='d\\u202e1'"),
    ("identifiers", "account_id,kind,value\na1,device,d1\ta2\n", "value", "value='d1\\ta2'"),
    ("edges", "src,dst,kind\na1,\ufeffa2,transfer\n", "dst", "src='a1', dst='\\ufeffa2'"),
    ("enforcement", "account_id,action\na\u200d1,ban\n", "account_id", "account_id='a\\u200d1'"),
])
def test_control_and_invisible_characters_in_ids_are_refused(capsys, tmp_path, good, table,
                                                             text, column, example):
    paths = dict(good, **{table: write(tmp_path, f"bad_{table}.csv", text)})
    code, out, err = run(capsys, *args_for(paths))
    assert code == 2, out
    assert (f"bad_{table}.csv, column '{column}': control or invisible characters") in err
    assert "(1 row)" in err
    assert example in err


@pytest.mark.parametrize("table,header,row,column,contract", [
    ("accounts", "account_id,creatd_at", "a1,2025-01-01", "creatd_at", "created_at"),
    ("accounts", "account_id,Created_At,country", "a1,2025-01-01,de", "Created_At",
     "created_at"),
    ("accounts", "account_id,createdAt", "a1,2025-01-01", "createdAt", "created_at"),
    ("identifiers", "account_id,kind,value,seen_on", "a1,device,d1,2025-01-01", "seen_on",
     "seen_at"),
    ("enforcement", "account_id,action,reasn", "a1,ban,fraud", "reasn", "reason"),
])
def test_misspelled_contract_columns_are_refused(capsys, tmp_path, good, table, header, row,
                                                 column, contract):
    paths = dict(good, **{table: write(tmp_path, f"bad_{table}.csv", f"{header}\n{row}\n")})
    code, out, err = run(capsys, *args_for(paths))
    assert code == 2, out
    assert f"bad_{table}.csv, column '{column}': looks like a misspelling of '{contract}'" in err


def test_attributes_far_from_contract_names_stay_attributes(tmp_path):
    path = write(tmp_path, "a.csv", "account_id,created_by,created_on,country,account_age\n"
                 "a1,ops,2025-01-01,de,3\n")
    t = load_tables(path)
    assert list(t.accounts.columns)[1:] == ["created_by", "created_on", "country", "account_age"]


def test_flag_prints_the_input_notes(capsys, tmp_path, good):
    paths = dict(good, edges=write(tmp_path, "e.csv", "src,dst,kind\na1,a2,transfer\n"
                                   "a1,a2,transfer\na3,a3,message\n"))
    args = ["flag", "--no-model", "--quiet", "--out", str(tmp_path / "out"), "--top", "0"]
    for k, v in paths.items():
        args += [f"--{k}", str(v)]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "note: " in out
    assert "e.csv: dropped 1 exact duplicate row" in out
    assert "e.csv: dropped 1 self-loop edge(s)" in out

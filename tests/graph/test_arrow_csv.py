"""Arrow's CSV reader gives exactly the table pandas' parser gave, or steps aside.

Every file below is read both ways: whenever the fast path answers, its table must
equal, column types included, the one pandas' parser makes of the same bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.graph import InputError, load_tables
from ringfence.graph import arrow_csv
from ringfence.graph.arrow_csv import read_csv_arrow
from ringfence.graph.reading import _read_csv


def both(path: Path, data: bytes, table: str = "identifiers") -> tuple[pd.DataFrame | None,
                                                                         pd.DataFrame | None]:
    """(fast path's table, pandas' table); pandas' is None when it refuses the file."""
    gz = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    text = ("account_id", "created_at") if table == "accounts" else None
    fast = read_csv_arrow(path, gz, text=text)
    try:
        slow = _read_csv(data.removeprefix(b"\xef\xbb\xbf"), table, str(path))
    except InputError:
        slow = None
    return fast, slow


GOOD = {
    "plain": b"account_id,kind,value\na1,device,d1\na2,ip,1.2.3.4\n",
    "quoted cells": b'"account_id","kind","value"\n"a1","device","d,1"\n"a2","ip","say ""hi"""\n',
    "line break in a quoted cell": b'account_id,kind,value\na1,device,"d\n1"\na2,ip,"x\r\ny"\n',
    "CRLF": b"account_id,kind,value\r\na1,device,d1\r\na2,ip,i2\r\n",
    "byte order mark": b"\xef\xbb\xbfaccount_id,kind,value\na1,device,d1\n",
    "no final line end": b"account_id,kind,value\na1,device,d1\na2,ip,i2",
    "blank lines": b"account_id,kind,value\n\na1,device,d1\n\n\na2,ip,i2\n",
    "padded header and cells": b" account_id , kind,value\n a1 ,device,\xc2\xa0d1\n",
    "empty cells and NA words": b"account_id,kind,value\n,device,NA\na2,,null\n",
    "unicode": "account_id,kind,value\nä1,device,M\u00fcnchen \U0001f600\n".encode(),
    "control characters": b"account_id,kind,value\na\x1b[2J,device,d\x00\n",
    "header only": b"account_id,kind,value\n",
}


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
@pytest.mark.parametrize("name", list(GOOD))
def test_good_files_are_read_by_arrow_as_pandas_read_them(tmp_path, name, gz):
    fast, slow = both(tmp_path / ("t.csv.gz" if gz else "t.csv"), GOOD[name])
    assert fast is not None, "the fast path stepped aside on a good file"
    pd.testing.assert_frame_equal(fast, slow)


ACCOUNTS = {
    "numbers": ("account_id,n,x\na1,3,1.5\na2,-4,.25\na3,0,1e3\n", {"n": "int64", "x": "float64"}),
    "numbers with gaps": ("account_id,n,x\na1,3,\na2,NA,nan\na3,,2\n",
                          {"n": "float64", "x": "float64"}),
    "text": ("account_id,country,code\na1,de,007x\na2,NA,12\na3,,fr\n",
             {"country": "str", "code": "str"}),
    "booleans": ("account_id,verified,flag\na1,true,False\na2,TRUE,false\n",
                 {"verified": "bool", "flag": "bool"}),
    "all missing": ("account_id,x\na1,\na2,NA\n", {"x": "float64"}),
    "times stay text": ("account_id,created_at,seen\na1,2025-01-01,2025-01-01T00:00:00Z\n",
                        {"created_at": "str", "seen": "str"}),
}


@pytest.mark.parametrize("name", list(ACCOUNTS))
def test_accounts_attributes_are_typed_as_pandas_types_them(tmp_path, name):
    text, dtypes = ACCOUNTS[name]
    fast, slow = both(tmp_path / "a.csv", text.encode(), "accounts")
    assert fast is not None
    assert {c: str(fast[c].dtype) for c in dtypes} == dtypes
    pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.parametrize("cells", [[" 1", "2"], ["+1", "2"], ["inf", "1"], ["1,5", "2"],
                                   ["true", "NA"], ["12345678901234567890", "1"],
                                   ["0.123456789012345678901", "1"]])
def test_attribute_columns_pandas_might_read_otherwise_go_to_pandas(tmp_path, cells):
    text = "account_id,x\n" + "".join(f'a{i},"{c}"\n' for i, c in enumerate(cells))
    fast, _ = both(tmp_path / "a.csv", text.encode(), "accounts")
    assert fast is None
    # and the whole path still gives pandas' table
    t = load_tables(tmp_path / "a.csv")
    assert len(t.accounts) == len(cells)


@pytest.mark.parametrize("data", [
    b"account_id,kind\na1\n",                              # short row: pandas fills a gap
    b"account_id,kind\na1,d,x\n",                          # long row
    b'account_id,kind\n"a1,d\n',                           # unclosed quote
    b"account_id,kind\na1,M\xfcnchen\n",                   # Latin-1
    b"account_id,account_id\na1,a2\n",                     # a name twice
    b"account_id, account_id\na1,a2\n",                    # twice once stripped
    b"\n\n",                                               # no header
])
def test_arrow_steps_aside_on_files_it_would_read_differently(tmp_path, data):
    assert read_csv_arrow(_write(tmp_path / "x.csv", data), False) is None


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_refusal_in_a_later_block_still_names_its_line(tmp_path, monkeypatch, capsys):
    # small blocks: the bad row is read by another thread than the header
    monkeypatch.setattr(arrow_csv, "_BLOCK_BYTES", 256)
    rows = "".join(f"a{i},device,\"d\n{i}\"\n" for i in range(200))
    ok = _write(tmp_path / "i.csv", ("account_id,kind,value\n" + rows).encode())
    fast, slow = both(ok, ok.read_bytes())
    assert fast is not None and len(fast) == 200
    pd.testing.assert_frame_equal(fast, slow)
    bad = ("account_id,kind,value\n" + rows + "a9,device,x,extra\n" + rows).encode()
    path = _write(tmp_path / "bad.csv", gzip.compress(bad, mtime=0))
    path = path.rename(tmp_path / "bad.csv.gz")
    accounts = _write(tmp_path / "a.csv", b"account_id\na1\n")
    with pytest.raises(InputError) as e:
        load_tables(accounts, identifiers=path)
    text = str(e.value)
    assert "a row has 4 fields, the header has 3" in text
    assert "line 402: 'a9,device,x,extra'" in text  # header, then 200 rows of two lines


@pytest.mark.xfail(strict=True, reason="known gap: Arrow accepts a last row that opens a quote "
                   "and never closes it, which pandas refuses (found by the property test below)")
def test_an_unclosed_quote_on_the_last_row_is_left_to_pandas(tmp_path):
    fast, slow = both(tmp_path / "t.csv", b'account_id\n"\n')
    assert slow is None and fast is None


@pytest.mark.slow
# derandomized: CI runs the same examples every time (the gap above was found by a random run)
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(["account_id", "kind", "value", " v ", "", "x"]),
                       min_size=1, max_size=4),
       cells=st.lists(st.lists(st.text(alphabet='a1 ,"\n\r\t.é-e\x00', max_size=6),
                               min_size=0, max_size=5), max_size=6),
       quote=st.booleans(), crlf=st.booleans(), gz=st.booleans(), bom=st.booleans())
def test_any_file_is_read_as_pandas_reads_it_or_left_to_pandas(tmp_path, header, cells, quote,
                                                                crlf, gz, bom):
    end = "\r\n" if crlf else "\n"

    def cell(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if quote else c

    text = ",".join(header) + end + "".join(",".join(map(cell, row)) + end for row in cells)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    fast, slow = both(tmp_path / ("t.csv.gz" if gz else "t.csv"), data)
    if fast is not None:
        assert slow is not None, "Arrow read a file pandas refuses"
        pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.one_of(
    st.sampled_from(["", "NA", "NaN", "nan", "null", "true", "False", "inf", "-0", "1.", ".5"]),
    st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=False).map(repr),
    st.text(alphabet="0123456789.-+eE ,x", max_size=8)), min_size=1, max_size=8))
def test_attribute_types_match_pandas(tmp_path, cells):
    text = "account_id,x\n" + "".join(f'a{i},"{c}"\n' for i, c in enumerate(cells))
    fast, slow = both(tmp_path / "a.csv", text.encode(), "accounts")
    if fast is not None:
        pd.testing.assert_frame_equal(fast, slow)

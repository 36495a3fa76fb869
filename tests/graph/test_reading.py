"""Reading one file: CSV the parser rejects and repeated column names are refused with
the file, the line (or column) and the offending text shown escaped, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ringfence.graph import InputError, load_tables
from ringfence.jobs.cli import main


def validate(capsys, tmp_path: Path, text: str, name: str = "accounts.csv") -> tuple[int, str]:
    path = tmp_path / name
    path.write_bytes(text.encode())
    code = main(["validate", "--accounts", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    "text,message,example",
    [
        # pandas took the first column as an index, then failed on a string row label
        ("account_id,created_at\na1,2025-01-01,extra\na2,2025-01-02\n",
         "the first row has more fields than the header", "line 2: 'a1,2025-01-01,extra'"),
        ("account_id,created_at\na1,2025-01-01\n\na2,2025-01-02,x\n",
         "a row has 3 fields, the header has 2", "line 4: 'a2,2025-01-02,x'"),
        # a quoted cell over two lines: the record's first line and its whole text
        ("account_id,note\na1,x\n\"a\nb\",y,z\n",
         "a row has 3 fields, the header has 2", "line 3: '\"a\\nb\",y,z'"),
        ("account_id,created_at\n\"a1,2025-01-01\na2,2025-01-02\n",
         "a quote (\") is opened and never closed", "line 2: '\"a1,2025-01-01\\na2,2025-01-02'"),
        ("\"account_id,created_at\na1,2025\n", "a quote (\") is opened and never closed",
         "line 1: "),
        # the offending text is shown escaped: an escape sequence cannot reach the terminal
        ("account_id\na1\na2,\x1b[2J\n", "a row has 2 fields, the header has 1",
         "line 3: 'a2,\\x1b[2J'"),
    ],
)
def test_csv_parse_errors_name_the_line(capsys, tmp_path, text, message, example):
    code, err = validate(capsys, tmp_path, text)
    assert code == 2
    assert "accounts.csv: cannot parse CSV: " + message in err
    assert example in err
    assert "\x1b" not in err


def test_long_bad_line_is_cut(capsys, tmp_path):
    code, err = validate(capsys, tmp_path, "account_id\na1\n" + "x," * 500 + "\n")
    assert code == 2 and "line 3: 'x,x," in err and "...'" in err and len(err) < 600


@pytest.mark.parametrize("header,column,where", [
    ("account_id,account_id", "account_id", "columns 1 and 2"),
    ("account_id,country, country ,created_at", "country", "columns 2 and 3"),
])
def test_csv_duplicated_header_is_refused(capsys, tmp_path, header, column, where):
    # pandas renames the second one ('account_id.1'): the raw header is checked
    code, err = validate(capsys, tmp_path, header + "\n" + ",".join("x" * header.count(",")
                                                                    + "y") + "\n")
    assert code == 2
    assert (f"accounts.csv, column '{column}': column appears more than once in the header "
            f"({where})") in err


def test_parquet_and_dataframe_duplicated_columns_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "accounts.parquet"
    pq.write_table(pa.table([pa.array(["a"]), pa.array(["b"])],
                            names=["account_id", "account_id"]), path)
    with pytest.raises(InputError, match="column 'account_id': column appears more than once"):
        load_tables(path)
    frame = pd.DataFrame([["a", "b"]], columns=["account_id", "account_id"])
    with pytest.raises(InputError, match="column 'account_id': column appears more than once"):
        load_tables(frame)


def test_column_names_are_shown_escaped(capsys, tmp_path):
    code, err = validate(capsys, tmp_path, "acc\x1b]0;pwned\x07ount_id\na1\n")
    assert code == 2 and "\x1b" not in err and "\x07" not in err
    assert "acc\\x1b]0;pwned\\x07ount_id" in err


def test_rows_shorter_than_the_header_are_missing_values(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("account_id,created_at,country\na1\na2,2025-01-01,de\n")
    t = load_tables(path)
    assert t.accounts["account_id"].tolist() == ["a1", "a2"]
    assert pd.isna(t.accounts["created_at"][0])

"""The Spark engine checks its input files as the in-process reader does (one shared
check, ``ringfence.graph.reading.checked_kind``), and picks the as-of time by the same rule
(``ringfence.graph.timestamps.as_of_from_newest``)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.problems import InputError
from ringfence.graph.reading import read_table
from ringfence.graph.timestamps import newest_time

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("name, content, message", [
    ("identifiers.parquet", gzip.compress(b"account_id,kind,value\n"),
     "not a Parquet file (it looks like gzip); the extension says .parquet"),
    ("identifiers.csv.gz", b"account_id,kind,value\na1,ip,1.2.3.4\n",
     "not a gzip file; the extension says .csv.gz"),
    ("identifiers.csv", b"", "file is empty (0 bytes)"),
    ("identifiers.txt", b"account_id\n", "unknown file type"),
])
def test_a_wrong_file_gets_the_in_process_message(spark, tmp_path, name, content, message):
    from ringfence.graph.spark.load import read_frame

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as spark_error:
        read_frame(spark, path, "identifiers")
    with pytest.raises(InputError) as in_process:
        read_table(path, "identifiers")
    assert message in str(spark_error.value)
    assert str(spark_error.value) == str(in_process.value)
    assert str(path) in str(spark_error.value)


def test_a_missing_file_is_named(spark, tmp_path):
    from ringfence.graph.spark.load import read_frame

    with pytest.raises(InputError, match="file not found"):
        read_frame(spark, tmp_path / "edges.parquet", "edges")


def test_as_of_time_on_spark_follows_the_in_process_rule(spark):
    from ringfence.graph.spark.load import newest_time_distributed

    rng = np.random.default_rng(5)
    day = pd.Timedelta(days=1)
    base = pd.Timestamp("2026-01-01", tz="UTC")
    created = pd.Series(base + rng.integers(0, 300, 3_000) * day)
    # a few far-future typos in one table, one more in the other: ignored by the rule
    seen = pd.Series(list(base + rng.integers(0, 300, 2_000) * day)
                     + [pd.Timestamp("2031-05-05", tz="UTC")] * 3)
    later = pd.Series([pd.Timestamp("2029-02-02", tz="UTC")])
    expected = newest_time({"a": created, "b": seen, "c": later})
    assert expected[1] is not None and "4 timestamps" in expected[1]
    frame = spark.createDataFrame(pd.DataFrame({"t": seen}))
    got = newest_time_distributed({"a": created, "b": frame, "c": later})
    assert got == expected


@pytest.mark.parametrize("fmt, pattern", [
    ("%d/%m/%Y %H:%M", "d'/'M'/'yyyy' 'H':'m"),
    ("%Y%m%dT%H%M%S", "yyyyMMdd'T'HHmmss"),  # digits run together: fixed widths
    ("%d %b %Y %I:%M %p", "d' 'MMM' 'yyyy' 'h':'m' 'a"),
    ("%Y-%m-%d %H:%M:%S.%f%z", "yyyy'-'M'-'d' 'H':'m':'s'.'SSSSSS[XXX][XX]"),
    ("it's %j/%Y, 100%%", "'it''s 'D'/'yyyy', 100%'"),  # quotes and %% are literal text
])
def test_a_time_format_becomes_the_spark_pattern(fmt, pattern):
    from ringfence.graph.spark.load import spark_time_pattern

    assert spark_time_pattern(fmt) == pattern


@pytest.mark.parametrize("fmt, why", [("%a %d/%m/%Y", "day names"),
                                      ("%d/%m/%y", "two-digit years")])
def test_a_format_spark_reads_otherwise_is_refused(spark, tmp_path, fmt, why):
    from ringfence.graph.spark.load import load_spark_tables

    path = tmp_path / "accounts.csv"
    path.write_text("account_id\na1\n")
    with pytest.raises(InputError) as e:
        load_spark_tables(spark, path, time_format=fmt)
    assert f"--time-format (time_format=): the Spark engine cannot read" in str(e.value)
    assert why in str(e.value)


def _both_engines(spark, tmp_path, fmt, values):
    from ringfence.graph.spark.load import load_spark_tables
    from ringfence.graph.tables import load_tables

    acc, ids = tmp_path / "accounts.csv", tmp_path / "identifiers.csv"
    acc.write_text("account_id\n" + "".join(f"a{i}\n" for i in range(len(values))))
    ids.write_text("account_id,kind,value,seen_at\n"
                   + "".join(f"a{i},device,d{i},{v}\n" for i, v in enumerate(values)))
    out = []
    for load in (lambda: load_tables(acc, ids, time_format=fmt),
                 lambda: load_spark_tables(spark, acc, identifiers=ids, time_format=fmt)):
        try:
            out.append(load())
        except InputError as e:
            out.append(str(e))
    return out


@pytest.mark.parametrize("fmt, values", [
    ("%d/%m/%Y %H:%M", ["3/1/2025 10:05", "03/01/2025  9:05", "2025-02-01", "1735900000"]),
    ("%Y%m%d", ["20250103", "2025-01-04", "1735900000"]),
    ("%d %b %Y %I:%M %p", ["3 jan 2025 01:05 PM", "03 Jan 2025 1:05 am", "2025-03-01T10:00Z"]),
    # ISO 8601 without a format: Spark's cast refused minutes before a zone and the basic form
    (None, ["2025-03-01T10:00Z", "2025-03-01T10:00-05:30", "20250301T100000Z", "20250301T1000",
            "20250301T100000.25+0130", "2025-3-1", "2025-03-01T10:00:00.5+0200"]),
])
def test_times_in_a_given_format_read_as_in_process(spark, tmp_path, fmt, values):
    """The Spark reader used to translate %d/%m/%Y to dd/MM/yyyy, which refuses "3/1/2025"
    (strptime reads it), and read "20250103" under --time-format %Y%m%d as Unix seconds."""
    in_process, on_spark = _both_engines(spark, tmp_path, fmt, values)
    assert not isinstance(on_spark, str), on_spark
    got = on_spark.frames["identifiers"].toPandas().sort_values("account_id")
    want = in_process.identifiers.sort_values("account_id")
    assert pd.to_datetime(got["seen_at"], utc=True).tolist() == want["seen_at"].tolist()
    assert want["seen_at"].notna().all()


def test_times_a_format_does_not_read_are_refused_as_in_process(spark, tmp_path):
    # Spark's cast takes a zone name ("UTC"), pandas' ISO 8601 does not
    values = ["3/1/2025", "31/02/2025", "20250103x", "2025-01-04", "2025-01-04T10:00:00 UTC"]
    in_process, on_spark = _both_engines(spark, tmp_path, "%d/%m/%Y", values)
    assert isinstance(in_process, str) and isinstance(on_spark, str)
    for text in (in_process, on_spark):
        assert "column 'seen_at': unparseable timestamp" in text and "(3 rows)" in text
        assert all(v in text for v in ("31/02/2025", "20250103x", "10:00:00 UTC"))

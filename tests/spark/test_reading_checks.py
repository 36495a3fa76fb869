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

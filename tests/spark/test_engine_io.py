"""The Spark engine's inputs and outputs: files, folders and DataFrames in; the contract's
problem classes; ``ringfence flag --engine spark`` writing Parquet folders atomically."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.config import GraphConfig
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.problems import InputError
from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main
from ringfence.jobs.runs import read_run

pytestmark = pytest.mark.spark

CONFIG = GraphConfig(seed=2)


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=1000, seed=21)


@pytest.fixture(scope="module")
def files(platform, tmp_path_factory):
    return write_platform(platform, tmp_path_factory.mktemp("platform"), "csv")


@pytest.fixture(scope="module")
def reference(platform):
    t = load_tables(platform.accounts, platform.identifiers, platform.edges, platform.enforcement)
    return run_pipeline(t, CONFIG, stop_after="identities")


def _same_graph(state, ref) -> None:
    g, h = ref.graph, state.graph
    assert h.as_of == g.as_of
    for col in ("a", "b", "n_shared", "top_identifier"):
        np.testing.assert_array_equal(h.pairs[col].to_numpy(), g.pairs[col].to_numpy())
    np.testing.assert_allclose(h.pairs["weight"], g.pairs["weight"], rtol=1e-12)
    np.testing.assert_allclose(h.links_by_edge["weight"], g.links_by_edge["weight"], rtol=1e-12)
    np.testing.assert_array_equal(state.identity, ref.identity)


def test_gzip_csv_files_and_a_partitioned_parquet_folder(spark, files, platform, reference,
                                                         tmp_path):
    from ringfence.graph.spark.load import SparkTables, load_spark_tables

    # identifiers as Spark writes a table: a folder of parts, partitioned by kind
    folder = tmp_path / "identifiers"
    spark.createDataFrame(platform.identifiers.astype({"kind": str})).repartition(3) \
        .write.partitionBy("kind").parquet(str(folder))
    t = load_spark_tables(spark, files["accounts"], identifiers=folder, edges=files["edges"],
                          enforcement=files["enforcement"])
    assert isinstance(t, SparkTables) and t.identifiers is None
    assert t.counts["identifiers"] == len(load_tables(platform.accounts,
                                                      platform.identifiers).identifiers)
    assert t.sources["identifiers"] == str(folder)
    _same_graph(run_pipeline(t, CONFIG, stop_after="identities", engine="spark"), reference)


def test_parquet_written_by_pandas_with_nanosecond_timestamps(spark, platform, reference,
                                                               tmp_path):
    """pandas and pyarrow write TIMESTAMP(NANOS) by default, which Spark refuses to read
    (PARQUET_TYPE_ILLEGAL): `ringfence synth --format parquet` files failed on Spark."""
    from ringfence.graph.spark.load import load_spark_tables

    paths = write_platform(platform, tmp_path, "parquet")
    import pyarrow.parquet as pq

    assert str(pq.read_schema(paths["identifiers"]).field("seen_at").type) == "timestamp[ns, tz=UTC]"
    t = load_spark_tables(spark, paths["accounts"], identifiers=paths["identifiers"],
                          edges=paths["edges"], enforcement=paths["enforcement"])
    assert spark.conf.get("spark.sql.legacy.parquet.nanosAsLong") == "false"  # restored
    _same_graph(run_pipeline(t, CONFIG, stop_after="identities", engine="spark"), reference)


def test_spark_dataframes_in_python(spark, platform, reference):
    from ringfence.graph.spark.load import load_spark_tables

    frames = {k: spark.createDataFrame(getattr(platform, k).astype(
        {c: str for c in ("kind", "action") if c in getattr(platform, k).columns}))
        for k in ("accounts", "identifiers", "edges", "enforcement")}
    t = load_spark_tables(spark, **frames)
    _same_graph(run_pipeline(t, CONFIG, stop_after="identities", engine="spark"), reference)


def _bad_identifiers() -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"]})
    identifiers = pd.DataFrame({
        "account_id": ["a", "b", "zz", "c", "", "b"],
        "kind": ["device", "device", "device", "Device", "ip", "ip"],
        "value": ["d1", "d1", "d2", "d3", "1.2.3.4", ""],
        "seen_at": ["2026-01-01", "2026-01-02T10:00:00Z", "not a time", "2026-01-03",
                    "2026-01-04", "2300-01-01"],
    })
    return accounts, identifiers


def _classes(error: InputError) -> set[tuple[str, str | None, str, int]]:
    return {(p.table, p.column, p.message, p.n_rows) for p in error.problems}


def test_bad_input_gives_the_same_problem_classes(spark, tmp_path):
    from ringfence.graph.spark.load import load_spark_tables

    accounts, identifiers = _bad_identifiers()
    with pytest.raises(InputError) as ref:
        load_tables(accounts, identifiers)
    with pytest.raises(InputError) as got:
        load_spark_tables(spark, accounts, identifiers=identifiers)
    assert _classes(got.value) == _classes(ref.value)
    assert len(_classes(got.value)) == 6  # unknown account, empty id, kind, value, 2 times
    unknown = [p for p in got.value.problems if "not in the accounts" in p.message][0]
    assert unknown.examples == ["account_id='zz', kind='device'"]


def test_the_command_line_refuses_bad_input_with_exit_2(spark, tmp_path, capsys):
    accounts, identifiers = _bad_identifiers()
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    identifiers.to_csv(tmp_path / "identifiers.csv", index=False)
    pd.DataFrame({"account_id": ["a"], "action": ["ban"]}).to_csv(tmp_path / "enf.csv",
                                                                 index=False)
    code = main(["flag", "--engine", "spark", "--accounts", str(tmp_path / "accounts.csv"),
                 "--identifiers", str(tmp_path / "identifiers.csv"), "--enforcement",
                 str(tmp_path / "enf.csv"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "identifiers.csv, column 'account_id': references an account_id" in err
    assert not (tmp_path / "out").exists()


def test_flag_on_spark_writes_parquet_folders_and_keeps_old_outputs_on_failure(
        spark, files, tmp_path, monkeypatch, capsys):
    out = tmp_path / "flags"
    args = ["flag", "--engine", "spark", "--accounts", str(files["accounts"]),
            "--identifiers", str(files["identifiers"]), "--edges", str(files["edges"]),
            "--enforcement", str(files["enforcement"]), "--out", str(out), "--seed", "2",
            "--quiet", "--no-model", "--review-capacity", "30"]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["engine"]["name"] == "spark"
    assert run["engine"]["stages"]["link identities"] == "driver"
    assert (out / "scores.parquet").is_dir()
    assert list((out / "scores.parquet").glob("part-*.parquet"))
    scores = read_run(out).table("scores")
    assert len(scores) == 1000 and scores["flagged"].sum() == 30
    before = sorted(p.name for p in out.iterdir())
    # a Spark job that fails while writing: the previous outputs stay as they were
    from ringfence.graph.spark import output

    real = output.parquet_folder_writer

    def failing(session):
        inner = real(session)

        def write(df, folder, name):
            if name == "links":
                raise RuntimeError("executor lost")
            return inner(df, folder, name)
        return write

    monkeypatch.setattr(output, "parquet_folder_writer", failing)
    with pytest.raises(RuntimeError, match="executor lost"):
        main(args)
    assert sorted(p.name for p in out.iterdir()) == before
    pd.testing.assert_frame_equal(read_run(out).table("scores"), scores)


def test_a_file_spark_cannot_read_is_a_problem_not_a_traceback(spark, files, tmp_path, capsys):
    broken = tmp_path / "identifiers.parquet"
    broken.write_bytes(b"PAR1 this is not parquet PAR1")
    code = main(["flag", "--engine", "spark", "--accounts", str(files["accounts"]),
                 "--identifiers", str(broken), "--enforcement", str(files["enforcement"]),
                 "--out", str(tmp_path / "out"), "--quiet", "--no-model"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert f"{broken}" in err and "Spark cannot read it as Parquet" in err
    assert not (tmp_path / "out").exists()

"""The flag job end to end beyond the driver (a tiny ``driver_max_links``) against in-process.

Issue 16: with more links than the driver takes, ``ringfence flag --engine spark`` runs the
graph stages, the features, the model and the outputs on Spark and writes the same tables
as in-process: the same identities, the same links with the same reason words, the same
flagged queue within 5 %, every in-process column, run.json naming the fallbacks, and the
previous outputs untouched by a failed write.
(Propagation to 1e-9 and cluster quality: tests/spark/test_beyond_driver.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringfence.jobs.runs import OUTPUT_TABLES, read_run, write_run

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def runs(beyond_runs):
    """Night 1 of conftest.py's shared runs (3,000 accounts less 5 % and two identities,
    the model fitted in the run, 4 propagation iterations, ``driver_max_links`` and
    ``driver_max_identifiers`` 10): in-process and Spark results and run folders."""
    (ref, ref_dir), (got, got_dir) = beyond_runs["in-process", 1], beyond_runs["spark", 1]
    return ref, got, ref_dir, got_dir


def test_the_job_runs_to_the_end_with_every_in_process_column(runs):
    ref, got, ref_dir, got_dir = runs
    assert got.run["engine"]["beyond_driver"] is True
    assert got.run["engine"]["driver_max_identifiers"] == 10
    assert got.run["model"]["mode"] == ref.run["model"]["mode"] == "model (fitted in this run)"
    for name in OUTPUT_TABLES:
        assert (got_dir.path / f"{name}.parquet").is_dir(), name  # a Parquet folder
        mine, want = got_dir.table(name), ref_dir.table(name)
        assert list(mine.columns) == list(want.columns), name
        if name in ("scores", "identities"):
            assert len(mine) == len(want), name
    scores = got_dir.table("scores")
    want = ref_dir.table("scores")
    np.testing.assert_array_equal(scores["account_id"], want["account_id"])
    for col in ("banned", "cleared", "violations"):
        np.testing.assert_array_equal(scores[col], want[col], err_msg=col)
    # read back with the in-process types: nullable integer ranks, times in UTC
    assert scores["rank"].dtype == want["rank"].dtype
    for col in ("decided_at", "first_flagged_at"):
        assert str(scores[col].dt.tz) == "UTC", col
    flagged_at = scores.loc[scores["flagged"], "first_flagged_at"]
    assert (flagged_at == pd.Timestamp(got.run["as_of"])).all()
    # the propagation column as written: the same iteration count on both engines
    assert np.abs(scores["propagation_score"] - want["propagation_score"]).max() < 1e-9


def test_identities_are_the_in_process_ones(runs):
    _, _, ref_dir, got_dir = runs
    mine, want = got_dir.table("scores"), ref_dir.table("scores")
    assert (want["identity_id"] >= 0).sum() > 20
    # the same ids (numbered by size as in-process), so the same partition
    np.testing.assert_array_equal(mine["identity_id"], want["identity_id"])
    pd.testing.assert_frame_equal(got_dir.table("identities"), ref_dir.table("identities"),
                                  check_dtype=False)
    links, ref_links = got_dir.table("links"), ref_dir.table("links")
    key = ["account_a", "account_b"]
    links = links.sort_values(key, ignore_index=True)
    ref_links = ref_links.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(links[key], ref_links[key])
    # the reason words too: Spark expressions of the in-process phrases
    assert ref_links["reason"].str.contains(r"\(used by \d+\)").any()
    for col in ("identity_id", "n_shared", "kinds", "top_kind", "top_identifier", "cut",
                "link_kind", "reason"):
        np.testing.assert_array_equal(links[col], ref_links[col], err_msg=col)
    np.testing.assert_allclose(links["weight"], ref_links["weight"], rtol=1e-12)


def test_the_flagged_queue_is_the_in_process_one_within_5_percent(runs):
    ref, got, ref_dir, got_dir = runs
    queue, want = got_dir.table("queue"), ref_dir.table("queue")
    assert len(queue) == len(want) == 40
    overlap = len(set(queue["account_id"]) & set(want["account_id"])) / len(want)
    assert overlap >= 0.95
    assert queue["rank"].tolist() == list(range(1, 41))
    # every queued account is explained, with evidence paths from the links around it
    assert (queue["reasons"].str.len() > 0).all()
    evidence = got_dir.table("evidence")
    assert set(evidence["account_id"]) <= set(queue["account_id"])
    assert len(evidence) > 0.5 * len(ref_dir.table("evidence"))
    scores = got_dir.table("scores")
    assert int(scores["flagged"].sum()) == 40
    flagged = scores[scores["flagged"]].sort_values("rank")
    assert flagged["account_id"].tolist() == queue["account_id"].tolist()
    assert (scores.loc[~scores["flagged"], "reasons"] == "").all()


def test_run_json_names_what_ran_where_and_the_fallbacks(runs):
    _, got, _, got_dir = runs
    run = json.loads((got_dir.path / "run.json").read_text())
    engine = run["engine"]
    assert engine["driver_max_links"] == 10
    assert set(engine["fallbacks"]) == {"identities", "clusters", "propagation"}
    assert engine["fallbacks"]["clusters"].startswith("Leiden per component")
    assert "on Spark" in engine["fallbacks"]["identities"]
    assert engine["stages"]["queue"].startswith("spark")
    assert run["summary"]["flagged"] == 40
    assert run["format"] == "parquet"


def test_a_failed_write_leaves_the_previous_outputs_untouched(runs):
    from ringfence.graph.spark.output import parquet_folder_writer

    _, got, _, got_dir = runs
    before = sorted(p.name for p in got_dir.path.iterdir())
    run_json = (got_dir.path / "run.json").read_text()
    scores = got_dir.table("scores")
    inner = parquet_folder_writer(got.scores.sparkSession)

    def failing(df, folder, name):
        if name == "links":  # after scores and identities were written
            raise RuntimeError("executor lost")
        return inner(df, folder, name)

    with pytest.raises(RuntimeError, match="executor lost"):
        write_run(got, got_dir.path, writer=failing)
    assert sorted(p.name for p in got_dir.path.iterdir()) == before
    assert (got_dir.path / "run.json").read_text() == run_json
    pd.testing.assert_frame_equal(read_run(got_dir.path).table("scores"), scores)

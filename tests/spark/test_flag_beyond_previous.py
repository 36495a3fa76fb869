"""The flag job beyond the driver with a previous run (``--previous``) and a saved model
(``--model``), against in-process (issue 16).

conftest.py's shared runs: two nights on 3,000 accounts (every offender in a ring), night 1
without 5 % of the accounts and without every member of two identities, night 2 with all of
them, so that night 2 has identities night 1 did not (their fresh ids shift the size
numbering) and accounts that are new, dropped, still flagged, rose and fell. Night 2 scores
with a saved model and reads its engine's night 1 as ``--previous``, on both engines
(``driver_max_links = 10``, 4 propagation iterations; on Spark through the command line):
the scores, the carried identity ids and every status against the previous run are the
in-process ones. Clusters are the per-component fallback's beyond the driver, so their
carried ids are checked against the carrying rule on those clusters.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.carry import carry_ids

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def nights(beyond_nights):
    files, model_path, _ = beyond_nights
    return files, model_path


@pytest.fixture(scope="module")
def runs(beyond_runs):
    return beyond_runs


def test_a_saved_model_scores_as_in_process(runs, nights):
    _, model_path = nights
    # night 2 (night 1 fits its model in the run: test_flag_beyond_driver.py)
    for night in (2,):
        ref, ref_dir = runs["in-process", night]
        got, got_dir = runs["spark", night]
        assert got.run["engine"]["beyond_driver"] is True
        # the model came from the file, as in-process: nothing fitted in the run
        assert got.run["model"]["mode"] == "model"
        assert got.run["model"] == ref.run["model"]
        assert got.run["model"]["source"] == model_path
        assert got.run["engine"]["stages"]["model"] == f"driver (loaded from {model_path})"
        mine, want = got_dir.table("scores"), ref_dir.table("scores")
        np.testing.assert_array_equal(mine["account_id"], want["account_id"])
        assert np.abs(mine["score"] - want["score"]).max() < 1e-9
        assert want["score"].std() > 0.05  # scores that a wrong model would change
        queue, ref_queue = got_dir.table("queue"), ref_dir.table("queue")
        assert queue["account_id"].tolist() == ref_queue["account_id"].tolist()


def test_identity_ids_carry_over_as_in_process(runs):
    (ref, ref_dir), (got, got_dir) = runs["in-process", 2], runs["spark", 2]
    mine, want = got_dir.table("scores"), ref_dir.table("scores")
    night1 = runs["in-process", 1][1].table("scores")
    # night 2 has identities night 1 did not: carried ids are not the size numbering
    ids = want["identity_id"]
    assert ids.max() > runs["in-process", 1][0].run["id_counters"]["identity"]
    assert not ref_dir.table("identities")["identity_id"].is_monotonic_increasing
    unchanged = want.merge(night1[["account_id", "identity_id"]], on="account_id",
                           suffixes=("", "_1"))
    kept = unchanged[unchanged["identity_id"] >= 0]
    assert (kept["identity_id"] == kept["identity_id_1"]).sum() >= 15
    np.testing.assert_array_equal(mine["identity_id"], want["identity_id"])
    pd.testing.assert_frame_equal(got_dir.table("identities"), ref_dir.table("identities"),
                                  check_dtype=False)
    key = ["account_a", "account_b"]
    links = got_dir.table("links").sort_values(key, ignore_index=True)
    ref_links = ref_dir.table("links").sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(links[key], ref_links[key])
    np.testing.assert_array_equal(links["identity_id"], ref_links["identity_id"])
    assert got.run["id_counters"]["identity"] == ref.run["id_counters"]["identity"]
    assert got.run["previous"]["path"] == str((got_dir.path.parent / "spark-1").resolve())


def test_cluster_ids_carry_over_on_the_fallbacks_clusters(runs):
    got1, got1_dir = runs["spark", 1]
    got, got_dir = runs["spark", 2]
    old, new = got1_dir.table("scores"), got_dir.table("scores")
    where = pd.Index(old["account_id"]).get_indexer(new["account_id"])
    labels = new["cluster_id"].to_numpy(np.int64)
    # carrying again changes nothing: every cluster that matches a night-1 cluster has its
    # id and the others fresh ids above night 1's counter, in their order
    again, largest = carry_ids(old["cluster_id"].to_numpy(np.int64), labels, where,
                               largest_id=got1.run["id_counters"]["cluster"])
    np.testing.assert_array_equal(again, labels)
    assert largest == got.run["id_counters"]["cluster"]
    both = (where >= 0) & (labels >= 0)
    same = labels[both] == old["cluster_id"].to_numpy(np.int64)[where[both]]
    assert same.mean() > 0.5  # most clustered accounts kept their night-1 cluster id
    clusters = got_dir.table("clusters")
    assert set(clusters["cluster_id"]) == set(labels[labels >= 0])
    assert len(clusters) == got.run["summary"]["clusters"]


def test_statuses_against_the_previous_run_are_the_in_process_ones(runs):
    (ref, ref_dir), (got, got_dir) = runs["in-process", 2], runs["spark", 2]
    mine, want = got_dir.table("scores"), ref_dir.table("scores")
    old_mine = runs["spark", 1][1].table("scores").set_index("account_id")
    old_want = runs["in-process", 1][1].table("scores").set_index("account_id")
    # the accounts whose scores the engines agree on, both nights (all of them here)
    agree = (np.abs(mine["score"] - want["score"]) < 1e-9).to_numpy()
    before = (old_mine["score"] - old_want["score"]).abs().reindex(want["account_id"])
    agree = agree & ~(before >= 1e-9).to_numpy()
    assert agree.mean() > 0.95
    statuses = want.loc[agree, "status_vs_previous"]
    assert {"new", "still_flagged", "dropped", "not_flagged"} <= set(statuses)
    np.testing.assert_array_equal(mine.loc[agree, "status_vs_previous"], statuses)
    np.testing.assert_allclose(mine.loc[agree, "previous_score"],
                               want.loc[agree, "previous_score"], rtol=0, atol=1e-9)
    assert want["previous_score"].isna().sum() > 50  # the accounts new on night 2
    ns = "datetime64[ns, UTC]"  # Spark's Parquet holds microseconds
    pd.testing.assert_series_equal(mine.loc[agree, "first_flagged_at"].astype(ns),
                                   want.loc[agree, "first_flagged_at"].astype(ns))
    assert want["first_flagged_at"].notna().sum() > 40  # night 1's queue and night 2's new
    assert got.run["summary"]["vs_previous"] == ref.run["summary"]["vs_previous"]
    pd.testing.assert_frame_equal(got_dir.table("queue")[["account_id", "status_vs_previous"]],
                                  ref_dir.table("queue")[["account_id", "status_vs_previous"]],
                                  check_dtype=False)
    run = json.loads((got_dir.path / "run.json").read_text())
    assert run["previous"]["run_id"] == runs["spark", 1][0].run["run_id"]


def test_the_command_line_takes_previous_and_the_config_to_the_spark_engine(runs, nights):
    """Spark's night 2 ran as ``ringfence flag --engine spark --previous DIR --model PATH
    --config FILE``: the options reached the engine and the run folder says so."""
    got, got_dir = runs["spark", 2]
    _, model_path = nights
    run = json.loads((got_dir.path / "run.json").read_text())
    assert run["engine"]["name"] == "spark" and run["engine"]["beyond_driver"] is True
    # the config file's settings, not the defaults (50,000,000 links, 200 iterations)
    assert run["engine"]["driver_max_links"] == 10
    assert run["engine"]["driver_max_identifiers"] == 10
    assert run["propagation"]["iterations"] == 4
    assert run["parameters"]["review_capacity"] == 40
    assert run["model"]["source"] == model_path
    assert run["previous"]["path"] == str((got_dir.path.parent / "spark-1").resolve())
    assert (got_dir.path / "scores.parquet").is_dir()
    statuses = got_dir.table("scores")["status_vs_previous"]
    assert statuses.notna().all()
    assert {"new", "still_flagged", "dropped", "not_flagged"} <= set(statuses)
    # the masks of the key in RINGFENCE_MASK_KEY, as night 1's from the same key given
    assert run["masking"]["key_source"] == "environment"
    night1 = runs["spark", 1][0].run["masking"]
    assert run["masking"]["key_fingerprint"] == night1["key_fingerprint"]

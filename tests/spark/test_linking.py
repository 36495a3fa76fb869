"""The identity linker on Spark against the in-process one (local[2], a small platform).

Parity (issue 16): the same m and u to 1e-9, the same link probabilities to 1e-9, the same
link kinds, the same reason words for every candidate and the same identities, without and
with reviewers' link decisions (enough of them for the pair classifier); without decisions,
the identifiers normalised on Spark (the driver's limit forced low), with the driver's codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities
from spark.helpers import partition as _partition, platform_tables

pytestmark = pytest.mark.spark

CONFIG = GraphConfig(seed=3)


@pytest.fixture(scope="module")
def built(spark, platform):
    """conftest.py's platform built in-process and on Spark, once for both fixtures below:
    the build reads no link decisions (the linker does)."""
    from ringfence.graph.spark.build import pair_frames

    tables = platform_tables(platform)
    graph = build_graph(tables)
    return graph, pair_frames(spark, tables, CONFIG, graph.as_of)


def _both(spark, platform, built, with_labels: bool, max_identifiers: int | None = None):
    """(in-process identity linking, Spark links, their pairs, Spark identities, the Spark
    build's frames) of conftest.py's platform."""
    from ringfence.graph.spark.components import spark_identities
    from ringfence.graph.spark.linking import reason_column, spark_link, status_frame

    graph, frames = built
    decisions = platform_tables(platform, decisions=with_labels).link_decisions
    ref = link_identities(graph, CONFIG, decisions)
    dec = None
    if decisions is not None:
        dec = pd.DataFrame({"a": graph.nodes(decisions["account_a"].astype(str).to_numpy()),
                            "b": graph.nodes(decisions["account_b"].astype(str).to_numpy()),
                            "decision": decisions["decision"].astype(str).to_numpy()})
    links = spark_link(frames, status_frame(spark, graph.status), CONFIG, decisions=dec,
                       max_identifiers=max_identifiers)
    from pyspark.sql import functions as F

    apart = None
    if dec is not None:
        apart = spark.createDataFrame(dec[dec["decision"] == "different_actors"][["a", "b"]])
    same = links.pairs.where(F.col("link_kind") == "same_actor") \
        .select("a", "b", F.col("match_weight").alias("weight"))
    found = spark_identities(same, links.settings["max_identity_size"], apart=apart)
    identity = np.full(graph.n_accounts, -1)
    nodes = found.nodes.toPandas()
    identity[nodes["node"].to_numpy()] = nodes["identity"].to_numpy()
    got = links.pairs.withColumn("reason", reason_column(links)).toPandas() \
        .sort_values(["a", "b"], ignore_index=True)
    return ref, links, got, identity, frames


@pytest.fixture(scope="module")
def unlabelled(spark, platform, built):
    # the identifiers' normalisation with mapInPandas (more than 10 of them): every parity
    # claim below holds on its codes too
    return _both(spark, platform, built, with_labels=False, max_identifiers=10)


@pytest.fixture(scope="module")
def labelled(spark, platform, built):
    return _both(spark, platform, built, with_labels=True)


def _check(ref, links, got, identity, *, classifier: bool):
    linker = ref.linker
    want = linker.predict(reasons=False)
    assert len(want) > 2000  # a platform with something to decide
    assert (linker.classifier_ is not None) is classifier
    assert (links.classifier is not None) is classifier
    # the classifier's share of the pool, chosen from the decisions the same way
    assert links.classifier_share == linker.classifier_share_
    if classifier:
        pd.testing.assert_frame_equal(links.share_table, linker.share_table_)
    # the same parameters, estimated from pattern counts instead of pairs
    assert links.names == linker.comparisons_.names
    for mine, theirs in ((links.params.m, linker.params_.m), (links.params.u, linker.params_.u)):
        for x, y in zip(mine, theirs):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)
    assert abs(links.params.prior - linker.params_.prior) <= 1e-9
    # the same candidates, probabilities and kinds
    np.testing.assert_array_equal(got["a"].to_numpy(), want["a"].to_numpy())
    np.testing.assert_array_equal(got["b"].to_numpy(), want["b"].to_numpy())
    np.testing.assert_allclose(got["match_probability"], want["match_probability"],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["match_weight"], want["match_weight"], rtol=0, atol=1e-6)
    for name in linker.comparisons_.names:
        np.testing.assert_allclose(got[f"bf_{name}"], want[f"bf_{name}"], rtol=0, atol=1e-9)
    assert (got["link_kind"] == want["link_kind"]).all()
    assert (got["decided"] == want["decided"]).all()
    # the same words for every candidate (the links table shows some of them)
    words = linker.reasons(np.arange(len(want)))
    # every kind of phrase is there: counts, partial keys, timing, the classifier's digits
    for phrase in ("(used by 3)", "(used by 50)", "same email local part", "network",
                   "after the other's ban"):
        assert any(phrase in w for w in words), phrase
    assert bool(got["reason"].str.startswith("pair classifier ").all()) is classifier
    np.testing.assert_array_equal(got["reason"].to_numpy(object), words)
    # the pattern table explains the counts and the weights of every pair
    table = links.weights_table()
    pd.testing.assert_frame_equal(table, linker.weights_table(), check_exact=False, atol=1e-9)
    # the same identities
    np.testing.assert_array_equal(_partition(identity), _partition(ref.identity))


def test_spark_linker_matches_in_process(unlabelled):
    ref, links, got, identity, _ = unlabelled
    assert (got["link_kind"] == "same_actor").sum() > 30
    _check(ref, links, got, identity, classifier=False)


def test_spark_linker_honours_decisions_and_the_classifier(labelled):
    ref, links, got, identity, _ = labelled
    assert (got["decided"] != "").sum() > 60
    # a different_actors decision is never overridden, same_actor always kept
    assert (got.loc[got["decided"] == "different_actors", "link_kind"]
            == "shared_environment").all()
    assert (got.loc[got["decided"] == "same_actor", "link_kind"] == "same_actor").all()


def test_spark_linker_with_the_classifier_matches_in_process(labelled):
    ref, links, got, identity, _ = labelled
    _check(ref, links, got, identity, classifier=True)



def test_identifiers_normalised_on_spark_get_the_driver_codes(spark, unlabelled):
    from ringfence.graph.spark.levels import _keys, _spark_keys, _specs

    _, links, _, _, frames = unlabelled
    specs = _specs(links.settings, frames["kind_names"])
    want = _keys(frames, specs, None)
    got = _spark_keys(spark, frames, specs, None).toPandas() \
        .sort_values(["ci", "identifier"], ignore_index=True)
    want = want.sort_values(["ci", "identifier"], ignore_index=True)
    assert len(want) == len(frames["ident"]) > 20_000
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # spellings merged (emails), partial keys shared (local parts, IP networks), none missing
    assert (want["canon"] != want["identifier"]).sum() >= 6
    shared = want[want["partial"] >= 0].groupby(["ci", "partial"]).size()
    assert (shared >= 2).sum() >= 10


def test_spark_soft_sample_keeps_the_pairs_in_process_keeps(spark):
    # Beyond SOFT_PAIRS undecided candidates, both engines teach the classifier
    # Fellegi-Sunter's opinion of the same hashed share of them: a different pair would
    # change the classifier, and so the identities.
    from ringfence.graph.linking.supervised import soft_sample
    from ringfence.graph.spark.linking import soft_sample_column

    rng = np.random.default_rng(3)
    a = rng.integers(0, 10**9, 20_000)
    b = a + rng.integers(1, 10**7, len(a))
    frame = spark.createDataFrame(pd.DataFrame({"i": np.arange(len(a)), "a": a, "b": b}))
    got = frame.where(soft_sample_column(len(a), limit=2_000)).select("i").toPandas()
    want = np.flatnonzero(soft_sample(a, b, len(a), limit=2_000))
    assert 1_800 < len(want) < 2_200
    assert np.sort(got["i"].to_numpy()).tolist() == want.tolist()
    assert frame.where(soft_sample_column(len(a), limit=len(a))).count() == len(a)


def test_identifier_table_kept_on_spark_gets_the_driver_numbers(spark, platform, built):
    # Beyond driver_max_identifiers the identifier table is numbered on Spark and never
    # collected: the numbers, weights, uses and pairs are the driver's, (the
    # flag job beyond the driver, conftest.py's nights, runs this path end to end).
    from ringfence.graph.spark.build import driver_identifiers, pair_frames

    graph, frames = built
    kept = pair_frames(spark, platform_tables(platform), CONFIG, graph.as_of, max_identifiers=10)
    assert kept["ident"] is None and kept["n_identifiers"] == len(frames["ident"]) > 20_000
    got = driver_identifiers(kept)
    pd.testing.assert_frame_equal(got, frames["ident"], check_dtype=False)
    # the driver's table is in-process's: the same numbers name the same values
    assert got["value"].tolist() == graph.identifiers["value"].astype(str).tolist()
    # the comparisons' codes, normalised on Spark from the table where it stayed
    from ringfence.graph.spark.levels import _keys, _spark_keys, _specs, linker_settings

    specs = _specs(linker_settings(CONFIG, frames["kind_names"]), frames["kind_names"])
    codes = _spark_keys(spark, kept, specs, None).toPandas() \
        .sort_values(["ci", "identifier"], ignore_index=True)
    want_codes = _keys(frames, specs, None).sort_values(["ci", "identifier"], ignore_index=True)
    assert len(codes) > 20_000
    pd.testing.assert_frame_equal(codes, want_codes, check_dtype=False)
    for name, keys in (("uses", ["identifier", "node"]), ("pairs", ["a", "b"])):
        want = frames[name].toPandas().sort_values(keys, ignore_index=True)
        have = kept[name].toPandas().sort_values(keys, ignore_index=True)
        # sums of the same terms: equal up to the order Spark adds them in
        pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-12)

"""One local[2] Spark session for the whole test run (a session takes 6-7 s to start), and
one synthetic platform, with its in-process flag run, that the engine parity tests share.

Tests that need it take the ``spark`` fixture and carry ``@pytest.mark.spark``; without
pyspark or Java they are skipped with the reason (``make test`` installs both).
"""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits

from ringfence.graph.synth import SynthConfig, generate_platform
from spark.helpers import FLAG_CAPACITY, FLAG_CONFIG, platform_tables


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    pytest.importorskip("pyspark")
    from ringfence.graph.spark import SparkUnavailable, spark_session

    try:
        # the tests run thousands of tiny jobs: the JVM's optimising JIT (C2) and parallel
        # GC threads cost more CPU than they save on them (the quick C1 JIT alone and the
        # serial GC: 46 % less CPU for five fold propagations); results do not depend on it
        # one session runs every module: with 2 GB its heap ran out (java.lang.OutOfMemoryError
        # in test_linking, after the beyond-driver flag runs) and every later test lost the
        # JVM. 4 GB, as docs/spark.md advises for the driver, and the status store keeps only
        # the recent jobs' records (thousands of tiny jobs otherwise stay in the heap)
        session = spark_session("local[2]", app_name="ringfence-tests", shuffle_partitions=4,
                                conf={"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse")),
                                      "spark.driver.memory": "4g",
                                      "spark.ui.retainedJobs": "100",
                                      "spark.ui.retainedStages": "100",
                                      "spark.ui.retainedTasks": "10000",
                                      "spark.sql.ui.retainedExecutions": "50",
                                      "spark.driver.extraJavaOptions":
                                          "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"})
    except SparkUnavailable as exc:
        pytest.skip(str(exc))
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("checkpoints")))
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def one_thread_per_pool():
    """The model's fits on the driver spend longer synchronising threads (OpenMP, BLAS) than
    computing when the cores are shared with Spark (as tests/models/conftest.py measured);
    the results do not depend on it."""
    import sklearn.ensemble  # noqa: F401 (loads OpenMP, so that the limit reaches it)

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def platform():
    """3,000 accounts, every offender actor in one of 5 rings (90 members), and reviewers'
    decisions on pairs (152 of the linker's candidates decided): enough identities, rings,
    seeds and decisions for every parity claim of test_engine, test_beyond_driver,
    test_linking and test_scoring, which compare the engines on it."""
    return generate_platform(3_000, seed=8, config=SynthConfig(ring_actor_share=1.0),
                             link_labels=0.5)


@pytest.fixture(scope="session")
def in_process_flag(platform):
    """The flag job in-process on ``platform`` without its decisions (``FLAG_CONFIG``,
    ``FLAG_CAPACITY`` to review): test_engine.py's reference, whose graph state
    test_scoring.py scores."""
    from ringfence.jobs.flag import run_flag

    with threadpool_limits(limits=1):
        return run_flag(platform_tables(platform), FLAG_CONFIG, review_capacity=FLAG_CAPACITY)

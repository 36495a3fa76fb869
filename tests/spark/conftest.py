"""One local[2] Spark session for the whole test run (a session takes 6-7 s to start).

Tests that need it take the ``spark`` fixture and carry ``@pytest.mark.spark``; without
pyspark or Java they are skipped with the reason (``make test`` installs both).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    pytest.importorskip("pyspark")
    from ringfence.graph.spark import SparkUnavailable, spark_session

    try:
        session = spark_session("local[2]", app_name="ringfence-tests", shuffle_partitions=4,
                                conf={"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse")),
                                      "spark.driver.memory": "2g"})
    except SparkUnavailable as exc:
        pytest.skip(str(exc))
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("checkpoints")))
    yield session
    session.stop()

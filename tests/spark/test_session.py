"""The test session is the one the engine gets: local, few partitions, reused when active."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.spark


def test_the_active_session_is_reused_and_runs_python_workers(spark):
    from ringfence.graph.spark import spark_session

    assert spark_session() is spark
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    counts = spark.range(10).selectExpr("id % 3 AS k").groupBy("k").count().toPandas()
    assert sorted(counts["count"]) == [3, 3, 4]
    # a pandas UDF runs in a Python worker: it must be this environment's Python
    squares = spark.range(5).mapInPandas(lambda it: (d.assign(id=d.id ** 2) for d in it),
                                         "id long").toPandas()
    assert sorted(squares["id"]) == [0, 1, 4, 9, 16]

"""The Spark engine: ringfence's flag job on an existing Spark cluster (docs/spark.md).

Needs the ``spark`` extra (``pip install 'ringfence[spark]'``) and Java 17+. Nothing in
:mod:`ringfence.graph` imports this package, so the in-process engine never needs pyspark.
"""

from ringfence.graph.spark.session import SparkUnavailable, spark_session

__all__ = ["SparkUnavailable", "spark_session"]

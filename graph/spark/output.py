"""The flag job's output tables written by Spark: one Parquet folder per table.

Each table is a folder ``<name>.parquet/`` of part files, the layout Spark and every
lakehouse reader expect (pandas and pyarrow read such a folder as one table, so
:func:`ringfence.jobs.runs.read_table` reads it back unchanged). The folders are written
inside the run folder's temporary copy (:func:`ringfence.graph.atomic.atomic_directory`):
a Spark job that fails leaves the previous outputs as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

__all__ = ["parquet_folder_writer"]

_TIMESTAMPS = "spark.sql.parquet.outputTimestampType"


def parquet_folder_writer(spark: SparkSession, rows_per_part: int = 1_000_000
                          ) -> Callable[[pd.DataFrame, Path, str], Path]:
    """A ``writer(df, folder, name)`` for :func:`ringfence.jobs.runs.write_run` that writes
    ``folder/<name>.parquet/`` with Spark, about ``rows_per_part`` rows per part file.

    ``df`` is a pandas table, or a Spark DataFrame (the tables the flag job leaves on Spark
    beyond the driver), written as it is partitioned. Row order is kept (parts are
    numbered in order). Returns the folder's path.
    """

    def write(df: "pd.DataFrame | DataFrame", folder: Path, name: str) -> Path:
        path = Path(folder) / f"{name}.parquet"
        if isinstance(df, DataFrame):  # a table left on Spark (beyond the driver): as it is
            conf = spark.conf
            before = conf.get(_TIMESTAMPS, None)
            # instants marked as UTC, which readers load as UTC (Spark's default, INT96,
            # reads back as a naive time)
            conf.set(_TIMESTAMPS, "TIMESTAMP_MICROS")
            try:
                df.write.mode("error").parquet(str(path))
            finally:
                if before is None:
                    conf.unset(_TIMESTAMPS)
                else:
                    conf.set(_TIMESTAMPS, before)
            return path
        frame = df.copy()
        for c in frame.columns:  # Spark has no categorical or nullable-integer pandas types
            if isinstance(frame[c].dtype, pd.CategoricalDtype):
                frame[c] = frame[c].astype(str)
        parts = max(1, -(-len(frame) // rows_per_part))
        # an empty table keeps its columns: Spark cannot infer types from no rows
        sdf = spark.createDataFrame(frame) if len(frame) else None
        if sdf is None:
            path.mkdir()
            frame.to_parquet(path / "part-00000.parquet", index=False)
            return path
        sdf.coalesce(parts).write.mode("error").parquet(str(path))
        return path

    return write

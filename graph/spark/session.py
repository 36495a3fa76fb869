"""Starting (or reusing) the Spark session the Spark engine runs on."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, Mapping

from ringfence.graph.cpus import available_cpus

__all__ = ["SparkUnavailable", "default_master", "spark_session", "local_settings"]


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing: the message says what to install."""


def default_master() -> str:
    """``SPARK_MASTER`` if set, else ``local[k]`` with ``k`` the CPUs this process may use.

    Examples
    --------
    >>> default_master().startswith("local[") or "SPARK_MASTER" in os.environ
    True
    """
    return os.environ.get("SPARK_MASTER") or f"local[{available_cpus()}]"


def spark_session(master: str | None = None, *, app_name: str = "ringfence",
                  shuffle_partitions: int | None = None,
                  conf: Mapping[str, Any] | None = None) -> Any:
    """The active Spark session, or a new one on ``master``.

    An active session (a notebook on Databricks, ``spark-submit``) is reused as it is:
    its configuration belongs to whoever started it. A new session on a ``local[...]``
    master binds the driver to 127.0.0.1, turns the UI off and uses few shuffle
    partitions (two per core), which is what a single machine wants; on a cluster master
    Spark's own defaults and the ``SPARK_*`` settings apply. Workers run this Python
    (``PYSPARK_PYTHON``) unless the environment says otherwise.

    Parameters
    ----------
    master : str, optional
        ``local[2]``, ``spark://host:7077``, ``yarn``, ...; default: the master
        ``spark-submit`` was given, else :func:`default_master`.
    app_name : str
        The application's name in Spark's UI and logs.
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions`` for a new session.
    conf : mapping, optional
        Further settings for a new session, applied last.

    Raises
    ------
    SparkUnavailable
        pyspark is not installed, or no Java runtime is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(
            "the Spark engine needs pyspark: pip install 'ringfence[spark]'") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SparkUnavailable(
            "the Spark engine needs Java 17 or newer (Debian: apt-get install default-jre-headless; "
            "or set JAVA_HOME)")
    from pyspark import SparkConf

    # spark-submit (--master yarn, k8s://...) hands its master over in the configuration:
    # setting one here would override it
    submitted = SparkConf().get("spark.master", None)
    master = master or submitted or default_master()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master != submitted:
        builder = builder.master(master)
    settings: dict[str, Any] = {
        # pandas <-> Arrow for applyInPandas/mapInPandas and toPandas
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    if master.startswith("local"):
        settings.update(local_settings(available_cpus(), _physical_memory()))
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(int(shuffle_partitions))
    settings.update({k: str(v) for k, v in (conf or {}).items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_settings(cpus: int, memory_bytes: int | None) -> dict[str, str]:
    """Settings of a new session on a ``local[...]`` master, for ``cpus`` cores and
    ``memory_bytes`` of physical memory (None: unknown).

    The driver's heap is a quarter of the memory, between 2 and 8 GiB, unless
    ``SPARK_DRIVER_MEMORY`` says otherwise: in local mode the driver holds the
    executors too, and Spark's own 1 GiB default runs out of heap on the features of a
    20,000-account platform.

    >>> local_settings(2, 24 * 2**30)["spark.driver.memory"]
    '6144m'
    >>> local_settings(4, 4 * 2**30)["spark.sql.shuffle.partitions"], local_settings(4, None)["spark.driver.memory"]
    ('8', '2048m')
    """
    out = {
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(2 * cpus),
        "spark.default.parallelism": str(2 * cpus),
    }
    if not os.environ.get("SPARK_DRIVER_MEMORY"):
        quarter = (memory_bytes or 0) // 4
        out["spark.driver.memory"] = f"{min(max(quarter, 2 * 2**30), 8 * 2**30) // 2**20}m"
    return out


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


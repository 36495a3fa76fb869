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


# The tests' tables are tiny (thousands of rows): Spark's per-query and per-task overheads
# cost more than the work. Adaptive execution submits each shuffle stage as a job of its own
# and re-plans after it (a beyond-driver run of the graph stages on the 3,000-account
# platform: 141 jobs instead of 460); generating and compiling Java for every query
# (whole-stage and per expression) costs more than interpreting a few thousand rows; and
# each shuffle partition is a task per stage: one per core is enough. Measured on those
# stages with the session warmed up (CPU of the JVM and Python workers): 70 s by default,
# 54 s without adaptive execution and code generation, 39 s with 2 shuffle partitions
# instead of 4. Without adaptive execution the joins of tables whose size Spark cannot
# estimate stay sort-merge joins: each sorter takes a memory page at once, and with the
# default page (64 MB for this heap) the model's feature join ran out of execution memory
# (SparkOutOfMemoryError: unable to acquire 65536 bytes): 1 MB pages hold these tables.
# The results do not depend on any of them (the parity tests hold).
TINY_DATA = {"spark.sql.adaptive.enabled": "false",
             "spark.sql.codegen.wholeStage": "false",
             "spark.sql.codegen.factoryMode": "NO_CODEGEN",
             "spark.buffer.pageSize": "1m"}


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
        session = spark_session("local[2]", app_name="ringfence-tests", shuffle_partitions=2,
                                conf={"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse")),
                                      "spark.driver.memory": "4g",
                                      "spark.ui.retainedJobs": "100",
                                      "spark.ui.retainedStages": "100",
                                      "spark.ui.retainedTasks": "10000",
                                      "spark.sql.ui.retainedExecutions": "50",
                                      "spark.driver.extraJavaOptions":
                                          "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
                                      **TINY_DATA})
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
    seeds and decisions for every parity claim of test_engine, test_linking and
    test_scoring, which compare the engines on it; the nights beyond the driver
    (``beyond_nights``) are made from it too."""
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


# the flag job beyond the driver, shared by test_beyond_driver.py (its graph stages),
# test_flag_beyond_driver.py and test_flag_beyond_previous.py (each Spark night beyond the
# driver costs minutes on two cores: they run once per test session). A fixed number of propagation iterations on both
# engines (tol never reached); the identifiers are normalised on Spark too (above 10
# distinct ones), so the job's setting reaches the linker and the parity covers that path.
BEYOND_GRAPH = {"seed": 3, "max_iter": 4, "tol": 1e-300}
BEYOND_JOB = {"review_capacity": 40, "spark_driver_max_links": 10,
              "spark_driver_max_identifiers": 10}
BEYOND_KEY = "flag-beyond-the-driver-test-key!"
BEYOND_INPUTS = ("accounts", "identifiers", "edges", "enforcement")


def _without(platform, gone: set):
    """The platform without the accounts ``gone`` and every row naming them."""
    import dataclasses

    edges = platform.edges
    return dataclasses.replace(
        platform,
        accounts=platform.accounts[~platform.accounts["account_id"].isin(gone)],
        identifiers=platform.identifiers[~platform.identifiers["account_id"].isin(gone)],
        edges=edges[~edges["src"].isin(gone) & ~edges["dst"].isin(gone)],
        enforcement=platform.enforcement[~platform.enforcement["account_id"].isin(gone)])


@pytest.fixture(scope="session")
def beyond_nights(platform, tmp_path_factory):
    """Two nights' input files on the shared ``platform`` (3,000 accounts, every offender in
    a ring; without its reviewers' decisions) and the model night 1 fits, saved.

    Night 1 lacks 5 % of the accounts and every member of two identities, night 2 has all
    of them: night 2 has identities night 1 did not (their fresh ids shift the size
    numbering) and accounts that are new, dropped, still flagged, rose and fell. Night 1
    has enough labels to fit a model in the run (39 banned, 56 cleared), 55 accounts in
    identities and 5 rings: enough for test_beyond_driver.py's claims on its graph stages
    too (2,000 accounts had 34 accounts in identities on night 1, every seed from 0 to 40
    of them fewer than 51 or fewer than 3 rings). The saved model is the one night 1 fits
    in-process, so night 2's scores with it move only where the graph moved. Returns
    ``(files, model_path, platform)``; ``files[night]`` maps each input to its CSV.
    """
    import numpy as np

    from ringfence.graph import load_tables
    from ringfence.graph.config import GraphConfig
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.synth import write_platform
    from ringfence.models.model import save_model
    from ringfence.models.training import fit_model

    graph = GraphConfig(**BEYOND_GRAPH)
    with threadpool_limits(limits=1):
        state = run_pipeline(load_tables(*(getattr(platform, t) for t in BEYOND_INPUTS)), graph)
        ids = platform.accounts["account_id"].to_numpy()
        rng = np.random.default_rng(0)
        gone = set(ids[rng.random(len(ids)) < 0.05]) | set(
            ids[np.isin(state.linking.identity, [1, 3])])
        night1 = _without(platform, gone)
        tables = load_tables(*(getattr(night1, t) for t in BEYOND_INPUTS))
        model, _, _ = fit_model(tables, run_pipeline(tables, graph), seed=graph.seed)
    model_path, _ = save_model(model, tmp_path_factory.mktemp("model") / "m.joblib")
    files = {}
    for night, p in ((1, night1), (2, platform)):
        written = write_platform(p, tmp_path_factory.mktemp(f"night{night}"), "csv")
        files[night] = {t: written[t] for t in BEYOND_INPUTS}
    return files, str(model_path), platform


@pytest.fixture(scope="session")
def beyond_runs(spark, beyond_nights, tmp_path_factory):
    """The flag job on both nights, in-process and on Spark beyond the driver
    (``spark_driver_max_links = 10``): ``{(engine, night): (result, run folder)}``, and
    under ``("stopped", night)`` the :class:`~ringfence.graph.spark.engine.DriverLimitError`
    Spark's graph stages stopped with that night (its ``state``: their Spark tables), which
    the job took to the end: test_beyond_driver.py compares those tables with in-process.

    Night 1 fits its model in the run; night 2 scores with the saved model and reads the
    same engine's night 1 as ``--previous``. Spark's night 2 runs through the command line
    (``ringfence flag --engine spark --previous ... --model ...``, the job's settings in a
    config file): its result is the run folder's run.json (``result.run``).
    """
    from ringfence.graph.config import GraphConfig
    from ringfence.graph.masking import Masker
    from ringfence.jobs import spark_flag
    from ringfence.jobs.config import JobConfig
    from ringfence.jobs.flag import flag_files
    from ringfence.jobs.runs import read_run

    files, model_path, _ = beyond_nights
    base = tmp_path_factory.mktemp("beyond-runs")
    job = JobConfig(graph=GraphConfig(**BEYOND_GRAPH), **BEYOND_JOB)
    out = {}
    with threadpool_limits(limits=1):
        for night, config in ((1, job), (2, job.replace(model=model_path))):
            previous = base / "in-process-1" if night == 2 else None
            folder = base / f"in-process-{night}"
            result = flag_files(files[night], folder, config, masker=Masker(BEYOND_KEY.encode()),
                                previous=previous)
            out["in-process", night] = (result, read_run(folder))
    stopped = []
    to_the_end = spark_flag.flag_beyond_driver

    def recorded(tables, config, error, **kwargs):  # the error the job takes on
        stopped.append(error)
        return to_the_end(tables, config, error, **kwargs)

    recording = pytest.MonkeyPatch()
    recording.setattr(spark_flag, "flag_beyond_driver", recorded)
    try:
        with threadpool_limits(limits=1):
            folder = base / "spark-1"
            result = flag_files(files[1], folder, job.replace(engine="spark"),
                                masker=Masker(BEYOND_KEY.encode()))
            out["spark", 1] = (result, read_run(folder))
        out = _spark_night_2(out, files, model_path, base)
    finally:
        recording.undo()
    assert len(stopped) == 2
    out["stopped", 1], out["stopped", 2] = stopped
    return out


def _spark_night_2(out, files, model_path, base):
    """Spark's night 2 of :func:`beyond_runs`, through the command line."""
    import types

    import yaml

    from ringfence.graph.masking import MASK_ENV
    from ringfence.jobs import cli
    from ringfence.jobs.runs import read_run

    settings = base / "job.yaml"
    # safe_dump writes the tolerance as 1.0e-300, which YAML reads back as a number
    settings.write_text(yaml.safe_dump({**BEYOND_GRAPH, **BEYOND_JOB}))
    folder = base / "spark-2"
    argv = ["flag", "--engine", "spark", "--config", str(settings), "--out", str(folder),
            "--previous", str(base / "spark-1"), "--model", model_path, "--quiet",
            *[a for t in BEYOND_INPUTS for a in (f"--{t}", str(files[2][t]))]]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MASK_ENV, BEYOND_KEY)
        code = cli.main(argv)
    assert code == 0, f"ringfence {' '.join(argv)} exited {code}"
    ran = read_run(folder)
    out["spark", 2] = (types.SimpleNamespace(run=ran.run), ran)
    return out

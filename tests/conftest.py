"""Shared fixtures: one Bolt server for the session (NEO4J_URI if set, else ArcadeDB),
and the settings, driver and emptied database the Neo4j tests use."""

from __future__ import annotations

import pytest

# pyproject puts tests/ on sys.path (pythonpath), so this resolves from any subfolder
from bolt_server import session_server

from ringfence.graph.neo4j import Neo4jSettings, connect


@pytest.fixture(autouse=True, scope="session")
def _model_key_in_temporary_config(tmp_path_factory):
    """Models are signed with a key made in a temporary folder, never the user's own key."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    # and the Neo4j sync keeps its state in a temporary folder, never the user's
    patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    patch.delenv("RINGFENCE_MODEL_KEY", raising=False)
    yield
    patch.undo()


@pytest.fixture(autouse=True, scope="module")
def _one_thread_per_pool(request):
    """One OpenMP and BLAS thread for what the tests compute in this process: the tests' fits
    are small, and on shared cores their threads spent longer waiting for each other at the
    boosting's barriers than computing (9 s instead of 0.8 s per fit); no result depends on
    it. The command lines the tests run, in this process or in a notebook's kernel, get one
    thread too (``RINGFENCE_THREADS``), unless a test gives ``--threads``. tests/spark
    keeps its own settings."""
    if "spark" in request.path.parts:
        yield
        return
    import sklearn.ensemble  # noqa: F401 (loads OpenMP, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as patch:
        patch.setenv("RINGFENCE_THREADS", "1")
        yield


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory):
    """A running Bolt server (tests/bolt_server.py); see docs/neo4j-testing.md."""
    yield from session_server(tmp_path_factory)


@pytest.fixture(scope="module")
def settings(bolt_server) -> Neo4jSettings:
    return Neo4jSettings(uri=bolt_server.uri, user=bolt_server.user,
                         password=bolt_server.password, database=bolt_server.database)


@pytest.fixture(scope="module")
def driver(settings):
    drv = connect(settings)
    yield drv
    drv.close()


def q(driver, settings, query: str, **params) -> list:
    with driver.session(database=settings.database) as s:
        return s.execute_write(lambda tx: [r.values() for r in tx.run(query, params)])


@pytest.fixture
def db(driver, settings):
    """An empty database, and a query helper."""
    q(driver, settings, "MATCH (n) DETACH DELETE n")
    return lambda query, **params: q(driver, settings, query, **params)

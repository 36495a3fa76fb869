"""Shared fixtures: one Bolt server for the session (NEO4J_URI if set, else ArcadeDB)."""

from __future__ import annotations

import pytest

try:  # tests/ is not a package; work however pytest put it on sys.path
    from tests.bolt_server import session_server
except ImportError:  # pragma: no cover
    from bolt_server import session_server  # type: ignore[no-redef]


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory):
    """A running Bolt server (tests/bolt_server.py); see docs/neo4j-testing.md."""
    yield from session_server(tmp_path_factory)

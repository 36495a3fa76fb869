"""Settings, retries and one-line connection errors that never show the password.

The tests marked ``neo4j`` use the session's ``bolt_server`` (tests/conftest.py)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from bolt_server import free_port
from neo4j.exceptions import ServiceUnavailable, TransientError
from neo4j_helpers import flag, sync

from ringfence.graph import load_tables
from ringfence.graph.neo4j import Neo4jConnectionError, Neo4jSettings, connect, load_from_neo4j
from ringfence.graph.neo4j.connection import _retrying


def test_settings_from_env_and_password_never_shown():
    env = {"NEO4J_URI": "neo4j://db.example:7687", "NEO4J_USER": "investigator",
           "NEO4J_PASSWORD": "s3cret-Pa55", "NEO4J_DATABASE": "fraud"}
    s = Neo4jSettings.from_env(env)
    assert (s.uri, s.user, s.password, s.database) == (
        "neo4j://db.example:7687", "investigator", "s3cret-Pa55", "fraud")
    assert "s3cret" not in repr(s) and "s3cret" not in str(s) and "password=<set>" in repr(s)
    s2 = Neo4jSettings.from_env(env, uri="bolt://other:1", database=None)
    assert (s2.uri, s2.database, s2.password) == ("bolt://other:1", "fraud", "s3cret-Pa55")
    d = Neo4jSettings.from_env({})
    assert (d.uri, d.user, d.password, d.database) == ("bolt://localhost:7687", "neo4j",
                                                       None, None)
    assert "password=<not set>" in repr(d)
    with pytest.raises(TypeError):
        Neo4jSettings.from_env({}, pasword="x")


@pytest.mark.slow  # waits out the retries
def test_bounded_retry_of_a_batch():
    calls, retries = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("deadlock")
        return "ok"

    assert _retrying(flaky, 3, lambda: retries.append(1), target=None) == "ok"
    assert (len(calls), len(retries)) == (3, 2)

    class T:
        uri, settings = "bolt://h:1", Neo4jSettings(password="pw-123456")

    def down():
        raise ServiceUnavailable("gone pw-123456")

    with pytest.raises(Neo4jConnectionError) as exc:
        _retrying(down, 1, lambda: None, target=T())
    assert "pw-123456" not in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.neo4j
def test_wrong_password_is_one_line(bolt_server, settings):
    bad = Neo4jSettings(uri=settings.uri, user=settings.user,
                        password=settings.password + "-wrong", database=settings.database)
    with pytest.raises(Neo4jConnectionError) as exc:
        connect(bad)
    msg = str(exc.value)
    assert "\n" not in msg and "refused the credentials" in msg and settings.user in msg
    assert settings.password not in msg and bad.password not in msg
    with pytest.raises(Neo4jConnectionError):
        load_from_neo4j(bad)


@pytest.mark.neo4j
def test_password_never_in_logs_output_or_errors(db, settings, capsys, caplog):
    tables = load_tables(pd.DataFrame({"account_id": ["a", "b", "c"]}),
                         identifiers=pd.DataFrame({"account_id": ["a", "b", "c"],
                                                   "kind": "device", "value": "d"}),
                         enforcement=pd.DataFrame({"account_id": ["a"], "action": ["ban"]}))
    caplog.set_level(logging.DEBUG, logger="neo4j")
    report = sync(settings, tables, flag(tables), progress=True)
    load_from_neo4j(settings)
    bad = Neo4jSettings(uri=settings.uri, user=settings.user, password=settings.password + "x")
    with pytest.raises(Neo4jConnectionError) as exc:
        connect(bad)
    out = capsys.readouterr()
    seen = "\n".join([out.out, out.err, caplog.text, str(report), repr(report.to_dict()),
                      str(exc.value), repr(settings), str(settings), repr(bad)])
    assert "neo4j sync: accounts 3/3 rows" in out.err
    assert "HELLO" in caplog.text or "LOGON" in caplog.text   # the driver logged its handshake
    assert settings.password not in seen


@pytest.mark.neo4j
def test_closed_port_is_one_line(settings, platform):
    closed = Neo4jSettings(uri=f"bolt://127.0.0.1:{free_port()}", user="neo4j",
                           password="not-used-pw", connection_timeout=3)
    tables, result = platform
    with pytest.raises(Neo4jConnectionError) as exc:
        sync(closed, tables, result)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("cannot reach Neo4j at bolt://127.0.0.1:")
    assert "not-used-pw" not in msg


@pytest.mark.neo4j
def test_unknown_database_is_one_line(settings):
    other = Neo4jSettings(uri=settings.uri, user=settings.user, password=settings.password,
                          database="no_such_db_ringfence")
    with pytest.raises(Neo4jConnectionError) as exc:
        connect(other)
    assert "no database 'no_such_db_ringfence'" in str(exc.value)
    assert "\n" not in str(exc.value)

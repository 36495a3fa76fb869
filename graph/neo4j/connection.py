"""Connecting to Neo4j: settings, one-line errors without secrets, retries.

:class:`Neo4jSettings` (from ``NEO4J_*`` variables or arguments) and :func:`connect`
give a checked ``neo4j.Driver``; every connection problem becomes a one-line
:class:`Neo4jConnectionError` that never shows the password. ``_Target`` lets the
sync and load take either a driver (the caller's) or settings (opened and closed
here); ``_retrying`` runs one managed transaction again after a transient failure.

Examples
--------
>>> s = Neo4jSettings(uri="bolt://db:7687", password="secret")
>>> "secret" in repr(s)
False
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Neo4jConnectionError", "Neo4jSettings", "connect"]

BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


class Neo4jConnectionError(RuntimeError):
    """Neo4j could not be reached or refused us; the message is one line, without secrets."""


@dataclass(frozen=True)
class Neo4jSettings:
    """Where and how to connect. The password never appears in ``repr``/``str``.

    ``database=None`` uses the server's default (home) database.
    """

    uri: str = "bolt://localhost:7687"
    user: str = "neo4j"
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    connection_timeout: float = 10.0

    ENV = {"uri": "NEO4J_URI", "user": "NEO4J_USER", "password": "NEO4J_PASSWORD",
           "database": "NEO4J_DATABASE"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Neo4jSettings":
        """Settings from ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``,
        ``NEO4J_DATABASE``, then ``overrides`` (``None`` values are ignored)."""
        import os

        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in cls.ENV.items():
            v = env.get(var)
            if v is not None and (v.strip() or name == "password"):
                values[name] = v.strip() if name != "password" else v
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {"uri", "user", "password", "database", "connection_timeout"}
        if unknown:
            raise TypeError(f"unknown Neo4j setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password or "")

    def __repr__(self) -> str:
        pw = "<set>" if self.password else "<not set>"
        return (f"Neo4jSettings(uri={self.uri!r}, user={self.user!r}, password={pw}, "
                f"database={self.database!r})")

    __str__ = __repr__


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _redact(text: str, secret: str | None) -> str:
    """Driver text on one line, with the password (if it somehow appears) masked. Only
    ever applied to the driver's text, never to our own words (a password may be a word)."""
    text = _one_line(text)
    return text.replace(secret, "***") if secret else text


def _connection_error(exc: BaseException, settings: Neo4jSettings) -> Neo4jConnectionError:
    from neo4j.exceptions import (AuthError, ClientError, ConfigurationError,
                                  ServiceUnavailable)

    where = f"Neo4j at {settings.uri}"
    if isinstance(exc, AuthError):
        msg = (f"{where} refused the credentials of user {settings.user!r} "
               f"(wrong user name or password; set NEO4J_USER / NEO4J_PASSWORD)")
    elif isinstance(exc, ServiceUnavailable):
        lines = str(exc).strip().splitlines()
        tail = lines[-1] if lines else type(exc).__name__
        m = re.search(r"\(reason (.+)\)\s*$", tail)
        msg = f"cannot reach {where}: {_redact(m.group(1) if m else tail, settings.password)}"
    elif isinstance(exc, ClientError) and exc.code == "Neo.ClientError.Database.DatabaseNotFound":
        msg = f"{where} has no database {settings.database!r} (check NEO4J_DATABASE)"
    elif isinstance(exc, (ConfigurationError, ValueError)):
        msg = (f"invalid Neo4j connection settings for {settings.uri!r}: "
               f"{_redact(str(exc), settings.password)}")
    else:
        msg = f"{where}: {type(exc).__name__}: {_redact(str(exc), settings.password)}"
    return Neo4jConnectionError(_one_line(msg))


def connect(settings: Neo4jSettings | None = None, *, verify: bool = True):
    """A ``neo4j.Driver`` for ``settings`` (default: from the environment), checked.

    Runs ``RETURN 1`` in the database, so a wrong password, an unreachable
    server and an unknown database all fail here with a one-line
    :class:`Neo4jConnectionError`. The caller closes the driver.
    """
    import neo4j

    settings = settings or Neo4jSettings.from_env()
    scheme = str(settings.uri).split("://", 1)[0].lower() if "://" in str(settings.uri) else ""
    if scheme not in BOLT_SCHEMES:
        raise Neo4jConnectionError(
            f"unsupported Neo4j URI {settings.uri!r}: use bolt:// or neo4j:// "
            "(+s or +ssc for TLS), e.g. bolt://localhost:7687")
    try:
        driver = neo4j.GraphDatabase.driver(settings.uri, auth=settings.auth,
                                            connection_timeout=settings.connection_timeout)
    except Exception as exc:  # bad scheme, bad port, ...
        raise _connection_error(exc, settings) from None
    if verify:
        try:
            driver.verify_connectivity()
            with driver.session(database=settings.database) as s:
                s.execute_read(lambda tx: tx.run("RETURN 1 AS one").consume())
        except Exception as exc:
            driver.close()
            raise _connection_error(exc, settings) from None
    return driver


class _Target:
    """A driver we were given (not ours to close) or one we opened from settings."""

    def __init__(self, target, database: str | None):
        import neo4j

        if target is None or isinstance(target, Neo4jSettings):
            self.settings = target or Neo4jSettings.from_env()
            self.database = database if database is not None else self.settings.database
            settings = self.settings
            if database is not None and database != settings.database:
                settings = dataclasses.replace(settings, database=database)
            self.driver = connect(settings)
            self.owned = True
        elif isinstance(target, neo4j.Driver):
            self.settings = None
            self.driver, self.database, self.owned = target, database, False
        else:
            raise TypeError("expected a neo4j.Driver or Neo4jSettings, got "
                            f"{type(target).__name__}")

    @property
    def uri(self) -> str:
        if self.settings is not None:
            return self.settings.uri
        try:
            return f"{self.driver.get_server_info().address}"
        except Exception:
            return "neo4j"

    def session(self):
        return self.driver.session(database=self.database)

    def close(self) -> None:
        if self.owned:
            self.driver.close()

    def __enter__(self) -> "_Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read(target: _Target, query: str, **params) -> list:
    with target.driver.session(database=target.database, fetch_size=10_000) as s:
        return s.execute_read(lambda tx: [r.values() for r in tx.run(query, params)])



def _retrying(fn: Callable[[], Any], max_retries: int, on_retry: Callable[[], None],
              target: _Target) -> Any:
    """Run ``fn`` (one managed transaction); on TransientError / ServiceUnavailable /
    SessionExpired try again, up to ``max_retries`` times with a growing pause.
    Every batch is an idempotent MERGE, so a retry after an unknown outcome is safe."""
    from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

    for attempt in range(max_retries + 1):
        try:
            return fn()
        except (TransientError, ServiceUnavailable, SessionExpired) as exc:
            if attempt == max_retries:
                if isinstance(exc, (ServiceUnavailable, SessionExpired)):
                    where = target.uri
                    detail = _redact(str(exc), target.settings.password
                                     if getattr(target, "settings", None) else None)
                    raise Neo4jConnectionError(
                        f"lost the connection to Neo4j at {where} after {attempt + 1} "
                        f"attempts: {detail}; run the sync again (it is idempotent)") from None
                raise
            on_retry()
            time.sleep(min(0.5 * 2 ** attempt, 8.0))

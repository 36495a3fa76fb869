"""Start and stop a real Bolt server for the Neo4j sync tests.

There is no Neo4j server we can install here, so the tests run ArcadeDB, whose
PyPI package ``arcadedb-embedded`` ships the server jars, its Bolt plugin and a
Java runtime. The official ``neo4j`` driver talks to it over Bolt 5.x.

Usage from a session fixture::

    @pytest.fixture(scope="session")
    def bolt_server(tmp_path_factory):
        yield from session_server(tmp_path_factory)   # NEO4J_URI, else ArcadeDB

or directly::

    with arcadedb_server(tmp_dir) as srv:           # BoltServer
        driver = neo4j.GraphDatabase.driver(srv.uri, auth=srv.auth)
        driver.execute_query("RETURN 1", database_=srv.database)

Set ``NEO4J_URI`` (and ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``)
to run the same tests against a real Neo4j; see docs/neo4j-testing.md.

Only the standard library and the ``neo4j`` driver are used here: the server
runs in a child JVM (never in-process through JPype), so a crash or hang of
the database cannot take the test process with it, and the process can be
killed without leaving anything behind.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

LOOPBACK = "127.0.0.1"
ROOT_USER = "root"  # ArcadeDB's superuser; its password is set on first start
BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"
SERVER_MAIN = "com.arcadedb.server.ArcadeDBServer"
LOG_NAME = "server.log"


class BoltServerError(RuntimeError):
    """The Bolt server could not be started (the message carries its log tail)."""


@dataclass
class BoltServer:
    uri: str
    user: str
    password: str
    database: str
    http_url: str = ""
    vendor: str = "arcadedb"  # "arcadedb" or "neo4j" (external server)
    startup_seconds: float = 0.0
    log_path: Path | None = None
    pid: int | None = None
    command: list[str] = field(default_factory=list, repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def is_arcadedb(self) -> bool:
        return self.vendor == "arcadedb"


# --------------------------------------------------------------------------
# external server (a real Neo4j)


def external_server_from_env(env: dict[str, str] | None = None) -> BoltServer | None:
    """A BoltServer for ``NEO4J_URI`` if it is set, else None.

    ``NEO4J_USER`` defaults to ``neo4j``, ``NEO4J_DATABASE`` to ``neo4j``;
    ``NEO4J_PASSWORD`` is required. The vendor is "neo4j" unless
    ``NEO4J_VENDOR`` says otherwise (tests also read the server agent string).
    """
    env = os.environ if env is None else env
    uri = env.get("NEO4J_URI", "").strip()
    if not uri:
        return None
    password = env.get("NEO4J_PASSWORD")
    if password is None:
        raise BoltServerError("NEO4J_URI is set but NEO4J_PASSWORD is not")
    return BoltServer(
        uri=uri,
        user=env.get("NEO4J_USER", "neo4j"),
        password=password,
        database=env.get("NEO4J_DATABASE", "neo4j"),
        http_url="",
        vendor=env.get("NEO4J_VENDOR", "neo4j"),
    )


# --------------------------------------------------------------------------
# locating the bundled runtime


@dataclass(frozen=True)
class ArcadeDBRuntime:
    java: Path
    jars: Path

    @property
    def classpath(self) -> str:
        return str(self.jars / "*")


def find_arcadedb_runtime() -> ArcadeDBRuntime:
    """The JRE and jars inside the installed ``arcadedb_embedded`` package.

    Found with ``find_spec`` so the package itself (which imports JPype) is
    never imported into the test process.
    """
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise BoltServerError(
            "the 'arcadedb-embedded' package is not installed "
            "(pip install -e '.[dev]'), or set NEO4J_URI to use a real Neo4j"
        )
    pkg = Path(next(iter(spec.submodule_search_locations)))
    java = pkg / "jre" / "bin" / ("java.exe" if os.name == "nt" else "java")
    jars = pkg / "jars"
    if not java.is_file():
        raise BoltServerError(f"no bundled Java runtime at {java}")
    if not any(jars.glob("arcadedb-server-*.jar")) or not any(
        jars.glob("arcadedb-bolt-*.jar")
    ):
        raise BoltServerError(f"no arcadedb-server / arcadedb-bolt jar in {jars}")
    return ArcadeDBRuntime(java=java, jars=jars)


def arcadedb_version(runtime: ArcadeDBRuntime | None = None) -> str:
    runtime = runtime or find_arcadedb_runtime()
    jar = next(runtime.jars.glob("arcadedb-server-*.jar"))
    return jar.stem.removeprefix("arcadedb-server-")


# --------------------------------------------------------------------------
# process helpers


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: SIGKILL the JVM when the test process dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:  # not Linux: atexit + the context manager still apply
        pass


_LIVE: dict[int, subprocess.Popen] = {}


def _stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM (ArcadeDB closes its databases in a shutdown hook), then SIGKILL."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    finally:
        _LIVE.pop(proc.pid, None)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE.values()):
        _stop_process(proc, timeout=5)


def _log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------
# HTTP API


def _http(url: str, user: str, password: str, payload: dict | None = None,
          timeout: float = 10.0) -> tuple[int, str]:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    # loopback only: never route through a proxy from the environment
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def create_database(http_url: str, user: str, password: str, name: str) -> None:
    status, body = _http(f"{http_url}/api/v1/server", user, password,
                         {"command": f"create database {name}"})
    if status != 200:
        raise BoltServerError(f"create database {name}: HTTP {status}: {body[:500]}")


# --------------------------------------------------------------------------
# the server


def arcadedb_command(runtime: ArcadeDBRuntime, root: Path, password_file: Path,
                     bolt_port: int, http_port: int, database: str,
                     heap: str = "1g") -> list[str]:
    props = {
        "arcadedb.server.rootPath": root,
        "arcadedb.server.databaseDirectory": root / "databases",
        "arcadedb.server.logsDirectory": root / "log",
        # from a 0600 file, so the password is not in `ps` output
        "arcadedb.server.rootPasswordPath": password_file,
        "arcadedb.server.mode": "development",
        "arcadedb.server.plugins": BOLT_PLUGIN,
        "arcadedb.server.httpIncomingHost": LOOPBACK,
        "arcadedb.server.httpIncomingPort": http_port,
        # HTTPS is off unless SSL is configured; pin the port anyway so a
        # second server never walks the default 2490-2499 range.
        "arcadedb.server.httpsIncomingPort": free_port(),
        "arcadedb.bolt.host": LOOPBACK,  # the plugin's default is 0.0.0.0
        "arcadedb.bolt.port": bolt_port,
        "arcadedb.bolt.defaultDatabase": database,
        "arcadedb.support.autoRegister": "false",  # no phoning home
        "arcadedb.server.healthCheck.enabled": "false",
    }
    return [
        str(runtime.java),
        "-Xms128m", f"-Xmx{heap}",
        "--add-exports", "java.management/sun.management=ALL-UNNAMED",
        "--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED",
        "--add-opens", "java.base/java.nio.channels.spi=ALL-UNNAMED",
        "--add-opens", "java.base/java.lang=ALL-UNNAMED",
        "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED",
        "-Dpolyglot.engine.WarnInterpreterOnly=false",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF8",
        *(f"-D{k}={v}" for k, v in props.items()),
        "-cp", runtime.classpath,
        SERVER_MAIN,
    ]


def _wait_http_ready(proc: subprocess.Popen, http_url: str, password: str,
                     deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise BoltServerError(f"ArcadeDB exited with code {proc.returncode} during start-up")
        try:
            status, _ = _http(f"{http_url}/api/v1/ready", ROOT_USER, password, timeout=2)
            if status in (200, 204):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BoltServerError("ArcadeDB HTTP API did not become ready in time")
        time.sleep(0.1)


def wait_for_bolt(server: BoltServer, deadline: float,
                  proc: subprocess.Popen | None = None) -> None:
    """Until the driver connects and ``RETURN 1`` runs in the database."""
    import neo4j  # the project's dependency; imported late so this module loads without it

    last: Exception | None = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise BoltServerError(f"server exited with code {proc.returncode}")
        try:
            with neo4j.GraphDatabase.driver(server.uri, auth=server.auth,
                                            connection_timeout=3) as driver:
                driver.verify_connectivity()
                records, _, _ = driver.execute_query("RETURN 1 AS one",
                                                     database_=server.database)
                if records[0]["one"] == 1:
                    return
        except Exception as exc:  # ServiceUnavailable while the port opens, etc.
            last = exc
        if time.monotonic() > deadline:
            raise BoltServerError(f"Bolt did not answer in time: {last!r}")
        time.sleep(0.2)


@contextmanager
def arcadedb_server(root: Path, database: str = "ringfence", timeout: float = 60,
                    heap: str = "1g", attempts: int = 3) -> Iterator[BoltServer]:
    """Run ArcadeDB with Bolt in ``root`` on free loopback ports; stop it on exit.

    The server's stdout/stderr go to ``root/server.log``; on a failed start its
    tail is in the raised BoltServerError. The JVM is stopped on exit from the
    ``with`` block, at interpreter exit, and (Linux) when this process dies.
    """
    runtime = find_arcadedb_runtime()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    log_path = root / LOG_NAME
    password_file = root / "root-password"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password)

    for attempt in range(1, attempts + 1):
        bolt_port, http_port = free_port(), free_port()
        while http_port == bolt_port:
            http_port = free_port()
        http_url = f"http://{LOOPBACK}:{http_port}"
        server = BoltServer(
            uri=f"bolt://{LOOPBACK}:{bolt_port}", user=ROOT_USER, password=password,
            database=database, http_url=http_url, vendor="arcadedb", log_path=log_path,
        )
        cmd = arcadedb_command(runtime, root, password_file, bolt_port, http_port, database, heap)
        server.command = cmd
        started = time.monotonic()
        with open(log_path, "ab") as log:
            log.write(f"\n=== start attempt {attempt}: bolt={bolt_port} http={http_port}\n"
                      .encode())
            log.flush()
            proc = subprocess.Popen(
                cmd, cwd=root, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # ^C goes to pytest, which then stops us cleanly
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        _LIVE[proc.pid] = proc
        server.pid = proc.pid
        with open(log_path, "ab") as log:
            log.write(f"=== pid={proc.pid}\n".encode())
        try:
            deadline = started + timeout
            _wait_http_ready(proc, http_url, password, deadline)
            create_database(http_url, ROOT_USER, password, database)
            wait_for_bolt(server, deadline, proc)
            server.startup_seconds = time.monotonic() - started
        except BaseException as exc:
            _stop_process(proc, timeout=10)
            tail = _log_tail(log_path)
            port_clash = "Address already in use" in tail or "BindException" in tail
            if isinstance(exc, BoltServerError) and port_clash and attempt < attempts:
                continue  # another process took a port between free_port() and bind
            if isinstance(exc, Exception):
                raise BoltServerError(
                    f"ArcadeDB failed to start ({exc}); command: "
                    f"{' '.join(server.command)}\n--- tail of {log_path} ---\n{tail}"
                ) from exc
            raise
        try:
            yield server
        finally:
            _stop_process(proc)
        return


def session_server(tmp_path_factory) -> Iterator[BoltServer]:
    """Body of a session-scoped pytest fixture::

        @pytest.fixture(scope="session")
        def bolt_server(tmp_path_factory):
            yield from session_server(tmp_path_factory)

    NEO4J_URI set: that server. Otherwise ArcadeDB in a temporary directory;
    if arcadedb-embedded is not installed the tests are skipped, except under
    CI (CI=true), where that is an error.
    """
    import pytest

    external = external_server_from_env()
    if external is not None:
        yield external
        return
    if importlib.util.find_spec("arcadedb_embedded") is None:
        msg = "arcadedb-embedded is not installed (pip install -e '.[dev]'); or set NEO4J_URI"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    with arcadedb_server(tmp_path_factory.mktemp("arcadedb")) as server:
        yield server


if __name__ == "__main__":  # python tests/bolt_server.py: start one and report
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with arcadedb_server(Path(tmp)) as srv:
            print(f"{srv.uri} db={srv.database} started in {srv.startup_seconds:.2f}s")

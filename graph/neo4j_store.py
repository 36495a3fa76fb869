"""The account graph in Neo4j: sync a flag run into it, read input tables out of it,
and the investigator queries notebooks use.

What the sync writes (``sync_to_neo4j``; docs/neo4j.md has the full schema)::

    (:Account {account_id, created_at, <attributes>, score, rank, flagged, identity_id,
               cluster_id, banned, cleared, violations, propagation, reasons, run_id})
    (:Device|IP|Card|Phone|Email|Address {kind, value, n_accounts, weight, first_seen,
               last_seen, run_id})        one label per node; other kinds: (:Identifier {kind, ...})
    (:Account)-[:USES {count, first_seen, last_seen, seen_at, run_id}]->(identifier)
    (:Account)-[:TRANSFER|MESSAGE|<KIND> {edge_id, kind, weight, at, amount, run_id}]->(:Account)
    (:Account)-[:SAME_ACTOR {weight, evidence, n_shared, kinds, top_identifier,
               identity_id, cut, run_id}]->(:Account)
    (:Cluster {cluster_id, size, risk, banned, cleared, violations, ..., run_id})
    (:Account)-[:IN_CLUSTER {run_id}]->(:Cluster)
    (:Enforcement {enforcement_id, account_id, action, at, reason, run_id})
    (:Account)-[:HAS_ENFORCEMENT {run_id}]->(:Enforcement)

Identifier values are stored in clear (the database is the investigators' own, and
holds what the input files hold); the flag job's derived text (``reasons``, the
``SAME_ACTOR`` ``evidence``) keeps the masks of the flag outputs.

Portability rules (docs/neo4j-testing.md, each checked against ArcadeDB and
valid on Neo4j 5): writes only in managed transactions; ``UNWIND $rows``
batches; unique constraints first; the account written on the left of every
relationship ``MERGE`` (or whichever end has the lower degree); stale data found
by a ``run_id`` stamp, never ``NOT x IN $keep``; timestamps sent as ISO strings
and stored with ``datetime()``; labels and relationship types only from fixed,
validated names written into the query text; every value a parameter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ringfence.graph.tables import TABLES, InputWarning, Tables, load_tables

__all__ = [
    "IDENTIFIER_LABELS",
    "Neo4jConnectionError",
    "Neo4jSettings",
    "RunDirError",
    "StepStats",
    "SyncReport",
    "connect",
    "default_run_id",
    "ensure_schema",
    "evidence_paths",
    "load_from_neo4j",
    "load_run_dir",
    "neighbourhood",
    "relationship_type",
    "sync_run_dir",
    "sync_to_neo4j",
    "write_tables",
]

# --------------------------------------------------------------------------- names

#: identifier kind -> its node label (fixed); nodes of other kinds are (:Identifier {kind})
IDENTIFIER_LABELS: dict[str, str] = {
    "device": "Device", "ip": "IP", "card": "Card", "phone": "Phone",
    "email": "Email", "address": "Address",
}
GENERIC_IDENTIFIER = "Identifier"
#: every label an identifier node can have (each node has exactly one of them)
IDENTIFIER_NODE_LABELS = tuple(IDENTIFIER_LABELS.values()) + (GENERIC_IDENTIFIER,)
KIND_RE = re.compile(r"[a-z][a-z0-9_]*")          # the input contract's kind token
TYPE_RE = re.compile(r"[A-Z][A-Z0-9_]*")          # relationship types made from kinds
MAX_NAME = 64
#: relationship types the sync writes for itself; an edge kind that maps onto one gets EDGE_
OWN_TYPES = ("USES", "SAME_ACTOR", "IN_CLUSTER", "HAS_ENFORCEMENT")
#: the labels the sync owns (their nodes are replaced or deleted by a sync)
OWN_LABELS = ("Account",) + IDENTIFIER_NODE_LABELS + ("Cluster", "Enforcement")
#: Account properties the sync derives; an input attribute with one of these names is
#: stored as ``input.<name>`` and read back under its own name
OUTPUT_PROPS = ("score", "rank", "flagged", "identity_id", "cluster_id", "banned", "cleared",
                "violations", "propagation", "reasons")
RESERVED_ACCOUNT_PROPS = ("account_id", "created_at", "run_id") + OUTPUT_PROPS
ATTR_PREFIX = "input."
CLUSTER_TIME_COLUMNS = ("first_activity", "last_activity")

# One label per identifier node, each with its own unique key: a MERGE on two labels
# (:Identifier:Device) is a scan on ArcadeDB (~700 rows/s and falling), one label ~11,000/s.
CONSTRAINTS = (
    "CREATE CONSTRAINT ringfence_account_id IF NOT EXISTS "
    "FOR (a:Account) REQUIRE a.account_id IS UNIQUE",
    *(f"CREATE CONSTRAINT ringfence_{kind}_value IF NOT EXISTS "
      f"FOR (i:{label}) REQUIRE i.value IS UNIQUE" for kind, label in IDENTIFIER_LABELS.items()),
    "CREATE CONSTRAINT ringfence_identifier_key IF NOT EXISTS "
    "FOR (i:Identifier) REQUIRE (i.kind, i.value) IS UNIQUE",
    "CREATE CONSTRAINT ringfence_cluster_id IF NOT EXISTS "
    "FOR (c:Cluster) REQUIRE c.cluster_id IS UNIQUE",
    "CREATE CONSTRAINT ringfence_enforcement_id IF NOT EXISTS "
    "FOR (e:Enforcement) REQUIRE e.enforcement_id IS UNIQUE",
)


LABEL_RE = re.compile(r"[A-Z][A-Za-z0-9_]*")      # labels/types written into query text
PROP_RE = re.compile(r"[a-z][a-z0-9_]*")          # property names written into query text


def _checked_name(name: str, pattern: re.Pattern = LABEL_RE) -> str:
    """A label, type or property name about to be written into query text: must be safe."""
    if not (isinstance(name, str) and len(name) <= MAX_NAME and pattern.fullmatch(name)):
        raise ValueError(f"refusing to write {name!r} into a query: not a validated name")
    return name


def relationship_type(kind: str) -> str:
    """The relationship type of an edge kind: ``transfer`` -> ``TRANSFER``.

    The kind must be a lower-case token (``[a-z][a-z0-9_]*``, at most 64
    characters); a kind that would collide with a type the sync writes for
    itself (``uses``, ``same_actor``, ``in_cluster``, ``has_enforcement``) gets
    the prefix ``EDGE_``. Every edge relationship also keeps its ``kind``.
    """
    if not (isinstance(kind, str) and len(kind) <= MAX_NAME and KIND_RE.fullmatch(kind)):
        raise ValueError(f"edge kind {kind!r} is not a lower-case token ([a-z][a-z0-9_]*)")
    t = kind.upper()
    return _checked_name("EDGE_" + t if t in OWN_TYPES else t, TYPE_RE)


# --------------------------------------------------------------------------- connection


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


# --------------------------------------------------------------------------- values


def _iso(col: pd.Series) -> list[str | None]:
    """UTC timestamps as ISO 8601 strings with nanoseconds and Z (None when missing)."""
    t = pd.to_datetime(col, utc=True)
    raw = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    text = np.char.add(np.datetime_as_string(raw, unit="ns"), "Z").astype(object)
    text[np.isnat(raw)] = None
    return text.tolist()


def _py(col: pd.Series) -> list:
    """A column as Python scalars for the driver: NaN/NA -> None, numpy -> int/float/bool/str."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col):
        return _iso(col)
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return col.astype(bool).tolist()
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.astype("int64").tolist()
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        out = values.astype(object)
        out[~np.isfinite(values)] = None
        return out.tolist()
    values = col.astype(object).where(col.notna(), None).tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _records(columns: Mapping[str, list]) -> list[dict]:
    keys = list(columns)
    return [dict(zip(keys, vals)) for vals in zip(*columns.values())]


def _content_key(frame: pd.DataFrame) -> list[str]:
    """A deterministic 64-bit hex key per row from the row's content (+ its ordinal among
    identical rows), so the same row gets the same key in every run."""
    f = frame.astype(str)
    f["_n"] = f.groupby(list(frame.columns), sort=False).cumcount().astype(str)
    h = pd.util.hash_pandas_object(f, index=False).to_numpy(np.uint64)
    return [format(int(x), "016x") for x in h]


# --------------------------------------------------------------------------- report


@dataclass
class StepStats:
    name: str
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    retries: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SyncReport:
    """What a sync did: rows and rows/s per step, deletions, retries, seconds."""

    run_id: str
    database: str | None
    uri: str
    batch_size: int
    steps: list[StepStats] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    prepare_seconds: float = 0.0
    prune_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.steps)

    @property
    def rows_per_s(self) -> float:
        write = sum(s.seconds for s in self.steps)
        return self.rows / write if write > 0 else 0.0

    @property
    def retries(self) -> int:
        return sum(s.retries for s in self.steps)

    def step(self, name: str) -> StepStats:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "database": self.database, "uri": self.uri,
            "batch_size": self.batch_size, "rows": self.rows,
            "rows_per_s": round(self.rows_per_s, 1), "seconds": round(self.seconds, 2),
            "prepare_seconds": round(self.prepare_seconds, 2),
            "prune_seconds": round(self.prune_seconds, 2), "retries": self.retries,
            "steps": {s.name: {"rows": s.rows, "batches": s.batches,
                               "seconds": round(s.seconds, 2),
                               "rows_per_s": round(s.rows_per_s, 1), "retries": s.retries}
                      for s in self.steps},
            "deleted": dict(self.deleted),
        }

    def lines(self) -> list[str]:
        out = [f"run {self.run_id} -> {self.uri} database {self.database or '(default)'}: "
               f"{self.rows:,} rows in {self.seconds:.1f} s ({self.rows_per_s:,.0f} rows/s "
               f"while writing; batches of {self.batch_size:,})"]
        width = max((len(s.name) for s in self.steps), default=8)
        for s in self.steps:
            out.append(f"  {s.name:<{width}}  {s.rows:>10,} rows  {s.seconds:7.1f} s  "
                       f"{s.rows_per_s:>9,.0f} rows/s" + (f"  {s.retries} retries"
                                                          if s.retries else ""))
        gone = {k: v for k, v in self.deleted.items() if v}
        out.append("  deleted stale: " + (", ".join(f"{k} {v:,}" for k, v in gone.items())
                                          if gone else "nothing"))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class _Progress:
    """One line per batch on stderr, at most one a second, and one at the end of a step."""

    def __init__(self, progress: bool | Callable[[str], None] | None, every: float = 1.0):
        if progress is True:
            self.emit: Callable[[str], None] | None = (
                lambda line: print(line, file=sys.stderr, flush=True))
        elif callable(progress):
            self.emit = progress
        else:
            self.emit = None
        self.every, self._last = every, 0.0

    def __call__(self, step: StepStats, total: int, done: bool = False) -> None:
        if self.emit is None:
            return
        now = time.perf_counter()
        if not done and (step.rows >= total or now - self._last < self.every):
            return
        self._last = now
        self.emit(f"neo4j sync: {step.name} {step.rows:,}/{total:,} rows "
                  f"({step.rows_per_s:,.0f} rows/s)" + (" done" if done else ""))

    def log(self, line: str) -> None:
        if self.emit is not None:
            self.emit(line)


# --------------------------------------------------------------------------- preparing rows


@dataclass
class _Write:
    name: str
    query: str
    rows: list[dict]


def _outputs(result: Any) -> dict[str, pd.DataFrame]:
    names = ("scores", "links", "clusters")
    if isinstance(result, Mapping):
        missing = [n for n in names if n not in result]
        if missing:
            raise ValueError(f"flag outputs missing: {', '.join(missing)}")
        return {n: result[n] for n in names}
    if all(hasattr(result, n) for n in names):
        return {n: getattr(result, n) for n in names}
    raise TypeError("result must be a FlagResult or a mapping of the flag job's output tables")


def default_run_id(tables: Tables, outputs: Mapping[str, pd.DataFrame]) -> str:
    """A content hash of the inputs and outputs: the same run always gets the same id,
    and any change (one score, one edge) gives a new one."""
    h = hashlib.sha256()
    for name in TABLES:
        df = tables[name]
        if df is not None:
            h.update(name.encode())
            h.update(",".join(map(str, df.columns)).encode())
            h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    for name in sorted(outputs):
        df = outputs[name]
        h.update(name.encode())
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return "r" + h.hexdigest()[:15]


def _account_rows(tables: Tables, scores: pd.DataFrame, run_id: str) -> list[dict]:
    acc = tables.accounts
    ids = acc["account_id"].astype(str)
    cols: dict[str, list] = {"account_id": ids.tolist()}
    for col in acc.columns:
        if col in ("account_id", "created_at"):
            continue
        key = str(col)
        if key in RESERVED_ACCOUNT_PROPS or key.startswith(ATTR_PREFIX):
            key = ATTR_PREFIX + key
        cols[key] = _py(acc[col])
    s = scores.set_index(scores["account_id"].astype(str))
    missing = ~ids.isin(s.index)
    if missing.any() or len(s) != len(acc):
        raise ValueError(
            f"the flag outputs do not belong to these inputs: {int(missing.sum()):,} of "
            f"{len(acc):,} accounts have no score (e.g. {ids[missing].head(3).tolist()}), "
            f"scores has {len(s):,} rows")
    s = s.loc[ids]
    for col in OUTPUT_PROPS:
        if col in s.columns:
            v = s[col]
            if col == "reasons":
                v = v.astype(object).where(v.notna(), "")
            cols[col] = _py(v.reset_index(drop=True))
    cols["run_id"] = [run_id] * len(acc)
    created = _iso(acc["created_at"]) if "created_at" in acc.columns else [None] * len(acc)
    return [{"account_id": a, "props": p, "created_at": c}
            for a, p, c in zip(cols["account_id"], _records(cols), created)]


def _identifier_frames(tables: Tables, graph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(identifiers: one row per (kind, value); uses: one row per (account, kind, value))."""
    idf = tables.identifiers
    if idf is None or len(idf) == 0:
        return (pd.DataFrame(columns=["kind", "value"]),
                pd.DataFrame(columns=["account_id", "kind", "value"]))
    seen = idf["seen_at"] if "seen_at" in idf.columns else pd.Series(
        pd.NaT, index=idf.index, dtype="datetime64[ns, UTC]")
    obs = pd.DataFrame({"account_id": idf["account_id"].astype(str).to_numpy(),
                        "kind": idf["kind"].astype(str).to_numpy(),
                        "value": idf["value"].astype(str).to_numpy(),
                        "seen": pd.to_datetime(seen, utc=True).reset_index(drop=True)})
    bad = sorted({k for k in obs["kind"].unique() if not KIND_RE.fullmatch(k)})
    if bad:
        raise ValueError(f"identifier kinds must be lower-case tokens, got {bad[:5]!r}")
    obs = obs.sort_values(["account_id", "kind", "value", "seen"], na_position="last",
                          kind="stable").reset_index(drop=True)
    key = obs[["account_id", "kind", "value"]]
    new = np.r_[True, (key.iloc[1:].to_numpy() != key.iloc[:-1].to_numpy()).any(axis=1)]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(obs)]
    timed = obs["seen"].notna().to_numpy()
    n_timed = np.add.reduceat(timed.astype(np.int64), starts)
    iso = _iso(obs["seen"])
    uses = obs.iloc[starts][["account_id", "kind", "value"]].reset_index(drop=True)
    uses["count"] = ends - starts
    # every timed observation, when there is more than one (else first_seen says it all:
    # most pairs are seen once, and the list costs a third of the USES write rate)
    uses["seen_at"] = [iso[s:s + n] if c > 1 else None
                       for s, n, c in zip(starts.tolist(), n_timed.tolist(),
                                          (ends - starts).tolist())]
    last_idx = np.maximum(starts + n_timed - 1, starts)
    uses["first_seen"] = obs["seen"].iloc[starts].reset_index(drop=True)
    uses["last_seen"] = obs["seen"].iloc[last_idx].reset_index(drop=True)
    g = uses.groupby(["kind", "value"], sort=False)
    ident = g.agg(n_accounts=("account_id", "size"), first_seen=("first_seen", "min"),
                  last_seen=("last_seen", "max")).reset_index()
    if graph is not None and len(graph.identifiers):
        gi = graph.identifiers
        w = pd.DataFrame({"kind": gi["kind"].astype(str).to_numpy(),
                          "value": gi["value"].astype(str).to_numpy(),
                          "weight": gi["weight"].to_numpy(float)})
        ident = ident.merge(w, on=["kind", "value"], how="left")
    else:
        ident["weight"] = np.nan
    return ident, uses


def _identifier_pattern(var: str, label: str) -> str:
    """``(i:Device {value: row.value})``, or ``(i:Identifier {kind: row.kind, value: row.value})``
    for kinds without a label of their own."""
    if label not in IDENTIFIER_NODE_LABELS:
        raise ValueError(f"not an identifier label: {label!r}")
    key = "{value: row.value}" if label != GENERIC_IDENTIFIER else \
        "{kind: row.kind, value: row.value}"
    return f"({var}:{_checked_name(label)} {key})"


def _any_label(var: str, labels: Iterable[str]) -> str:
    """``(x:A OR x:B ...)`` from fixed, checked labels."""
    return "(" + " OR ".join(f"{var}:{_checked_name(l)}" for l in labels) + ")"


def _degrees(tables: Tables, uses: pd.DataFrame) -> pd.Series:
    parts = [uses["account_id"]] if len(uses) else []
    if tables.edges is not None and len(tables.edges):
        parts += [tables.edges["src"].astype(str), tables.edges["dst"].astype(str)]
    if not parts:
        return pd.Series(dtype=np.int64)
    return pd.concat(parts, ignore_index=True).value_counts()


def _prepare(tables: Tables, outputs: Mapping[str, pd.DataFrame], graph,
             run_id: str) -> list[_Write]:
    writes: list[_Write] = []
    stamp = "$run_id"

    # accounts
    writes.append(_Write("accounts",
                         "UNWIND $rows AS row "
                         "MERGE (a:Account {account_id: row.account_id}) "
                         "SET a = row.props, a.created_at = datetime(row.created_at)",
                         _account_rows(tables, outputs["scores"], run_id)))

    # identifiers and USES, one query per fixed label (never interpolated from data)
    ident, uses = _identifier_frames(tables, graph)
    if len(ident):
        ident = ident.assign(_label=[IDENTIFIER_LABELS.get(k, GENERIC_IDENTIFIER)
                                     for k in ident["kind"]])
        uses = uses.assign(_label=[IDENTIFIER_LABELS.get(k, GENERIC_IDENTIFIER)
                                   for k in uses["kind"]])
        for label, part in ident.groupby("_label", sort=True):
            node = _identifier_pattern("i", label)
            rows = [{"kind": k, "value": v,
                     "props": {"kind": k, "value": v, "n_accounts": n, "weight": w,
                               "run_id": run_id},
                     "first_seen": f, "last_seen": l}
                    for k, v, n, w, f, l in zip(part["kind"].tolist(), part["value"].tolist(),
                                                _py(part["n_accounts"]), _py(part["weight"]),
                                                _iso(part["first_seen"]),
                                                _iso(part["last_seen"]))]
            writes.append(_Write(
                f"identifiers:{label}",
                f"UNWIND $rows AS row MERGE {node} "
                "SET i = row.props, i.first_seen = datetime(row.first_seen), "
                "i.last_seen = datetime(row.last_seen)", rows))
        for label, part in uses.groupby("_label", sort=True):
            node = _identifier_pattern("i", label)
            rows = [{"account_id": a, "kind": k, "value": v, "count": c, "seen_at": s,
                     "first_seen": f, "last_seen": l}
                    for a, k, v, c, s, f, l in zip(part["account_id"].tolist(),
                                                   part["kind"].tolist(), part["value"].tolist(),
                                                   _py(part["count"]), part["seen_at"].tolist(),
                                                   _iso(part["first_seen"]),
                                                   _iso(part["last_seen"]))]
            writes.append(_Write(
                f"uses:{label}",
                "UNWIND $rows AS row "
                "MATCH (a:Account {account_id: row.account_id}) "
                f"MATCH {node} "
                "MERGE (a)-[u:USES]->(i) "
                "SET u.count = row.count, u.seen_at = [s IN row.seen_at | datetime(s)], "
                "u.first_seen = datetime(row.first_seen), u.last_seen = datetime(row.last_seen), "
                f"u.run_id = {stamp}", rows))

    # account-to-account edges: one relationship per input row, keyed by a content hash
    edf = tables.edges
    if edf is not None and len(edf):
        kinds = edf["kind"].astype(str)
        types = {k: relationship_type(k) for k in sorted(kinds.unique())}  # validates
        deg = _degrees(tables, uses)
        src, dst = edf["src"].astype(str), edf["dst"].astype(str)
        at = edf["at"] if "at" in edf.columns else pd.Series(pd.NaT, index=edf.index)
        amount = edf["amount"] if "amount" in edf.columns else pd.Series(np.nan, index=edf.index)
        at_iso = _iso(at)
        key = _content_key(pd.DataFrame({"src": src, "dst": dst, "kind": kinds,
                                         "at": at_iso, "weight": edf["weight"].astype(float),
                                         "amount": amount.astype(float)}))
        cols = {"src": src.tolist(), "dst": dst.tolist(), "edge_id": key,
                "weight": _py(edf["weight"].astype(float)), "amount": _py(amount.astype(float)),
                "at": at_iso}
        src_left = src.map(deg).fillna(0).to_numpy() <= dst.map(deg).fillna(0).to_numpy()
        kind_arr = kinds.to_numpy()
        match = ("UNWIND $rows AS row MATCH (a:Account {account_id: row.src}) "
                 "MATCH (b:Account {account_id: row.dst}) ")
        for kind, rtype in types.items():
            for left in (True, False):
                idx = np.flatnonzero((kind_arr == kind) & (src_left == left)).tolist()
                if not idx:
                    continue
                # ArcadeDB scans the relationships of the node written on the left of a
                # relationship MERGE: write the endpoint with the lower degree there.
                pattern = (f"MERGE (a)-[r:{rtype} {{edge_id: row.edge_id}}]->(b) " if left
                           else f"MERGE (b)<-[r:{rtype} {{edge_id: row.edge_id}}]-(a) ")
                rows = [{"src": cols["src"][i], "dst": cols["dst"][i],
                         "edge_id": cols["edge_id"][i], "at": cols["at"][i],
                         "props": {"edge_id": cols["edge_id"][i], "kind": kind,
                                   "weight": cols["weight"][i], "amount": cols["amount"][i],
                                   "run_id": run_id}}
                        for i in idx]
                writes.append(_Write(f"edges:{rtype}", match + pattern +
                                     "SET r = row.props, r.at = datetime(row.at)", rows))

    # enforcement: one node per input row, keyed by a content hash
    enf = tables.enforcement
    if enf is not None and len(enf):
        acct = enf["account_id"].astype(str)
        action = enf["action"].astype(str)
        reason = (enf["reason"].astype(object).where(enf["reason"].notna(), "").astype(str)
                  if "reason" in enf.columns else pd.Series("", index=enf.index))
        at_iso = _iso(enf["at"]) if "at" in enf.columns else [None] * len(enf)
        key = _content_key(pd.DataFrame({"a": acct, "action": action, "at": at_iso,
                                         "reason": reason}))
        rows = [{"account_id": a, "enforcement_id": k, "at": t,
                 "props": {"enforcement_id": k, "account_id": a, "action": x,
                           "reason": r, "run_id": run_id}}
                for a, k, x, r, t in zip(acct.tolist(), key, action.tolist(), reason.tolist(),
                                         at_iso)]
        writes.append(_Write(
            "enforcement",
            "UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id}) "
            "MERGE (e:Enforcement {enforcement_id: row.enforcement_id}) "
            "SET e = row.props, e.at = datetime(row.at) "
            "MERGE (a)-[h:HAS_ENFORCEMENT]->(e) "
            f"SET h.run_id = {stamp}", rows))

    # clusters and memberships
    clusters = outputs["clusters"]
    if len(clusters):
        cid = clusters["cluster_id"].astype("int64")
        times = [c for c in CLUSTER_TIME_COLUMNS if c in clusters.columns]
        plain = [c for c in clusters.columns if c not in times]
        cols = {str(c): _py(clusters[c]) for c in plain}
        cols["run_id"] = [run_id] * len(clusters)
        tcols = {c: _iso(clusters[c]) for c in times}
        rows = [{"cluster_id": c, "props": p, **{t: tcols[t][i] for t in times}}
                for i, (c, p) in enumerate(zip(cid.tolist(), _records(cols)))]
        set_times = "".join(f", c.{_checked_name(t, PROP_RE)} = datetime(row.{t})"
                            for t in times)
        writes.append(_Write("clusters",
                             "UNWIND $rows AS row MERGE (c:Cluster {cluster_id: row.cluster_id}) "
                             "SET c = row.props" + set_times, rows))
    scores = outputs["scores"]
    member = scores[scores["cluster_id"].astype("int64") >= 0]
    if len(member):
        rows = [{"account_id": a, "cluster_id": c}
                for a, c in zip(member["account_id"].astype(str).tolist(),
                                member["cluster_id"].astype("int64").tolist())]
        writes.append(_Write("in_cluster",
                             "UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id}) "
                             "MATCH (c:Cluster {cluster_id: row.cluster_id}) "
                             f"MERGE (a)-[m:IN_CLUSTER]->(c) SET m.run_id = {stamp}", rows))

    # identity links: one SAME_ACTOR per pair, from the smaller account id to the larger
    links = outputs["links"]
    if len(links):
        a = links["account_a"].astype(str).to_numpy()
        b = links["account_b"].astype(str).to_numpy()
        lo, hi = np.where(a <= b, a, b), np.where(a <= b, b, a)
        n_shared = links["n_shared"].astype("int64").to_numpy()
        top = links["top_identifier"].astype(str).tolist()
        top_kind = links["top_kind"].astype(str).tolist()
        shared_by = links["top_shared_by"].astype("int64").tolist()
        evidence = [f"shares {k} {m} (used by {s:,} accounts)"
                    + (f" and {n - 1} more identifier{'s' if n > 2 else ''}" if n > 1 else "")
                    for k, m, s, n in zip(top_kind, top, shared_by, n_shared.tolist())]
        cols = {"weight": _py(links["weight"].astype(float)), "evidence": evidence,
                "n_shared": n_shared.tolist(), "kinds": _py(links["kinds"]),
                "top_identifier": top, "identity_id": _py(links["identity_id"]),
                "cut": _py(links["cut"].astype(bool)), "run_id": [run_id] * len(links)}
        rows = [{"a": x, "b": y, "props": p}
                for x, y, p in zip(lo.tolist(), hi.tolist(), _records(cols))]
        writes.append(_Write("same_actor",
                             "UNWIND $rows AS row MATCH (a:Account {account_id: row.a}) "
                             "MATCH (b:Account {account_id: row.b}) "
                             "MERGE (a)-[s:SAME_ACTOR]->(b) SET s = row.props", rows))
    return writes


# --------------------------------------------------------------------------- writing


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


def ensure_schema(target, *, database: str | None = None) -> None:
    """Create the sync's unique constraints if they are missing (idempotent)."""
    with _Target(target, database) as t:
        for q in CONSTRAINTS:
            with t.session() as s:
                s.execute_write(lambda tx, q=q: tx.run(q).consume())


def _write_step(t: _Target, name: str, writes: list[_Write], params: dict, batch_size: int,
                max_retries: int, progress: _Progress) -> StepStats:
    """All writes of one step (e.g. the USES of every identifier label), batch by batch."""
    stats = StepStats(name)
    total = sum(len(w.rows) for w in writes)

    def bump() -> None:
        stats.retries += 1

    for write in writes:
        for start in range(0, len(write.rows), batch_size):
            batch = write.rows[start:start + batch_size]
            t0 = time.perf_counter()

            def run(query=write.query, batch=batch):
                with t.session() as s:
                    return s.execute_write(
                        lambda tx: tx.run(query, {**params, "rows": batch}).consume())

            _retrying(run, max_retries, bump, t)
            stats.seconds += time.perf_counter() - t0
            stats.rows += len(batch)
            stats.batches += 1
            progress(stats, total)
    progress(stats, total, done=True)
    return stats


def _prune(t: _Target, run_id: str, chunk: int, max_retries: int,
           progress: _Progress) -> dict[str, int]:
    """Delete what the run does not contain: nodes of the owned labels and relationships
    from an Account to an owned node that are not stamped with ``run_id``. Stamp-based,
    so each pass is one scan (``NOT x IN $keep`` is quadratic on ArcadeDB)."""
    deleted: dict[str, int] = {}
    jobs = [(label, f"MATCH (n:{_checked_name(label)}) "
                    "WHERE n.run_id IS NULL OR n.run_id <> $run_id "
                    "WITH n LIMIT $chunk DETACH DELETE n RETURN count(*) AS deleted")
            for label in OWN_LABELS]
    jobs.append(("relationships",
                 "MATCH (a:Account)-[r]->(x) "
                 f"WHERE {_any_label('x', OWN_LABELS)} "
                 "AND (r.run_id IS NULL OR r.run_id <> $run_id) "
                 "WITH r LIMIT $chunk DELETE r RETURN count(*) AS deleted"))
    for name, query in jobs:
        total = 0
        while True:
            def run(query=query):
                with t.session() as s:
                    return s.execute_write(lambda tx: tx.run(
                        query, run_id=run_id, chunk=chunk).single()["deleted"])
            n = _retrying(run, max_retries, lambda: None, t)
            total += n
            if n < chunk:
                break
        deleted[name] = total
        if total:
            progress.log(f"neo4j sync: deleted {total:,} stale {name}")
    return deleted


def sync_to_neo4j(target, tables: Tables, result: Any, *, database: str | None = None,
                  graph=None, config=None, batch_size: int = 5000, run_id: str | None = None,
                  progress: bool | Callable[[str], None] | None = True, prune: bool = True,
                  max_retries: int = 3) -> SyncReport:
    """Write a flag run (inputs and outputs) into Neo4j; return what was written.

    Parameters
    ----------
    target
        A ``neo4j.Driver`` (not closed here) or :class:`Neo4jSettings` (a driver is
        opened, checked and closed; connection problems raise a one-line
        :class:`Neo4jConnectionError`).
    tables
        The validated input tables of the run (:func:`graph.load_tables`).
    result
        A :class:`jobs.flag.FlagResult`, or a mapping with the output tables
        ``scores``, ``links`` and ``clusters`` (as read by ``jobs.output.read_output``).
    database
        The database (default: the settings' database, else the server's default).
    graph, config
        The run's :class:`~graph.build.AccountGraph` (taken from a FlagResult) gives
        identifier linking weights; without it they are recomputed with ``config``
        when given, else left out.
    batch_size
        Rows per ``UNWIND`` transaction (2,000-5,000 is fastest on both servers).
    run_id
        Stamped on everything written; default :func:`default_run_id` (a content hash,
        so syncing the same run twice changes nothing).
    progress
        ``True``: a line per batch (at most one a second) on stderr; a callable gets
        the lines; ``False``/``None``: quiet.
    prune
        Delete the nodes and relationships of the sync's labels and types that this
        run does not contain (stale links, memberships, clusters, accounts, ...).
    max_retries
        Extra attempts per batch after a ``TransientError``, ``ServiceUnavailable`` or
        ``SessionExpired`` (on top of the driver's own retries inside
        ``execute_write``); every batch is an idempotent MERGE.

    Raises
    ------
    ValueError
        Outputs that do not match the inputs, or an edge/identifier kind that is not
        a lower-case token (checked before anything is written).
    Neo4jConnectionError
        Unreachable server, refused credentials, unknown database, lost connection.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    t_start = time.perf_counter()
    outputs = _outputs(result)
    if graph is None:
        graph = getattr(result, "graph", None)
    if graph is None and config is not None:
        from ringfence.graph.build import build_graph

        as_of = getattr(result, "run", {}).get("as_of") if not isinstance(result, Mapping) \
            else None
        graph = build_graph(tables, config, as_of=as_of)
    run_id = run_id or default_run_id(tables, outputs)
    writes = _prepare(tables, outputs, graph, run_id)   # validates before any write
    prepared = time.perf_counter()
    prog = _Progress(progress)
    with _Target(target, database) as t:
        report = SyncReport(run_id=run_id, database=t.database, uri=t.uri,
                            batch_size=batch_size, prepare_seconds=prepared - t_start)
        prog.log(f"neo4j sync: run {run_id} -> {t.uri} "
                 f"database {t.database or '(default)'}, "
                 f"{sum(len(w.rows) for w in writes):,} rows in batches of {batch_size:,}")
        for q in CONSTRAINTS:
            _retrying(lambda q=q: _schema(t, q), max_retries, lambda: None, t)
        steps: dict[str, list[_Write]] = {}
        for w in writes:
            steps.setdefault(w.name.split(":")[0], []).append(w)
        for name, group in steps.items():
            report.steps.append(_write_step(t, name, group, {"run_id": run_id}, batch_size,
                                            max_retries, prog))
        if prune:
            tp = time.perf_counter()
            report.deleted = _prune(t, run_id, max(batch_size, 1000), max_retries, prog)
            report.prune_seconds = time.perf_counter() - tp
    report.seconds = time.perf_counter() - t_start
    prog.log(f"neo4j sync: {report.rows:,} rows in {report.seconds:.1f} s "
             f"({report.rows_per_s:,.0f} rows/s while writing)")
    return report


def _schema(t: _Target, query: str) -> None:
    with t.session() as s:
        s.execute_write(lambda tx: tx.run(query).consume())


# --------------------------------------------------------------------------- a flag run's directory


class RunDirError(ValueError):
    """A flag output directory cannot be synced (missing files, changed inputs)."""


def _read_output_table(run_dir: Path, name: str) -> pd.DataFrame:
    from ringfence.jobs.output import read_output

    if (run_dir / f"{name}.parquet").exists():
        return read_output(run_dir, name)
    path = run_dir / f"{name}.csv"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {name}.parquet or {name}.csv "
                          "(is this a flag job's --out directory?)")
    text = {"account_id", "account_a", "account_b", "reasons", "kinds", "top_kind",
            "top_identifier", "banned_account", "text", "path", "steps"}
    head = pd.read_csv(path, nrows=0).columns
    df = pd.read_csv(path, dtype={c: str for c in head if c in text}, keep_default_na=False,
                     na_values={c: ["", "NA", "NaN", "nan"] for c in head if c not in text})
    for c in CLUSTER_TIME_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    if "rank" in df.columns:
        df["rank"] = df["rank"].astype("Int64")
    return df


def load_run_dir(run_dir: str | Path, *, check_hashes: bool = True):
    """Reload what a flag run used and produced: ``(tables, outputs, graph, run)``.

    The inputs are read again from the paths in ``run.json`` (and must still have the
    recorded sha256), the graph is rebuilt with the run's config and as-of time, and
    the outputs are read from the directory.
    """
    from ringfence.graph.build import build_graph
    from ringfence.graph.config import load_config

    run_dir = Path(run_dir)
    run_path = run_dir / "run.json"
    if not run_path.is_file():
        raise RunDirError(f"{run_dir}: no run.json (is this a flag job's --out directory?)")
    run = json.loads(run_path.read_text(encoding="utf-8"))
    paths: dict[str, str] = {}
    for name, info in (run.get("inputs") or {}).items():
        # "path" (absolute) when the flag job recorded it, else "source" as given
        src = info.get("path") or info.get("source", "")
        p = Path(src)
        if not p.is_absolute() and not p.exists():
            p = run_dir / src if (run_dir / src).exists() else p
        if not p.is_file():
            raise RunDirError(f"{run_dir}/run.json: the {name} input {src!r} is not a file "
                              "any more (or the run was made from DataFrames)")
        want = info.get("sha256")
        if check_hashes and want:
            from ringfence.jobs.output import file_sha256

            if file_sha256(p) != want:
                raise RunDirError(f"{p}: the {name} input changed since the run "
                                  "(sha256 differs); flag it again before syncing")
        paths[name] = str(p)
    if "accounts" not in paths:
        raise RunDirError(f"{run_dir}/run.json: no accounts input recorded")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        tables = load_tables(**paths)
    config = load_config((run.get("parameters") or {}).get("config") or {})
    graph = build_graph(tables, config, as_of=run.get("as_of"))
    outputs = {n: _read_output_table(run_dir, n) for n in ("scores", "links", "clusters")}
    return tables, outputs, graph, run


def sync_run_dir(target, run_dir: str | Path, **kwargs: Any) -> SyncReport:
    """:func:`sync_to_neo4j` for a flag job's output directory (what the CLI runs)."""
    tables, outputs, graph, _ = load_run_dir(run_dir)
    return sync_to_neo4j(target, tables, outputs, graph=graph, **kwargs)


# --------------------------------------------------------------------------- reading back

# attributes filtered on the server: no decoding of the run's long texts and timestamps
ACCOUNTS_QUERY = ("MATCH (a:Account) RETURN a.account_id, toString(a.created_at), "
                  "[k IN keys(a) WHERE NOT k IN $skip | [k, a[k]]]")
IDENTIFIERS_QUERY = (
    "MATCH (a:Account)-[u:USES]->(i) WHERE i.value IS NOT NULL "
    "RETURN a.account_id, coalesce(i.kind, toLower(head(labels(i)))), i.value, u.count, "
    "toString(u.first_seen), "
    "toString(u.last_seen), [x IN u.seen_at | toString(x)]")
EDGES_QUERY = (
    "MATCH (a:Account)-[r]->(b:Account) WHERE type(r) <> 'SAME_ACTOR' "
    "RETURN a.account_id, b.account_id, coalesce(r.kind, toLower(type(r))), r.weight, "
    "toString(r.at), r.amount")
ENFORCEMENT_QUERY = (
    "MATCH (a:Account)-[:HAS_ENFORCEMENT]->(e:Enforcement) "
    "RETURN a.account_id, e.action, toString(e.at), e.reason")


def _attribute_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return json.dumps([_attribute_value(x) for x in v], default=str)
    iso = getattr(v, "iso_format", None)
    return iso() if callable(iso) else str(v)


def load_from_neo4j(target=None, *, database: str | None = None) -> Tables:
    """The four input tables, read out of Neo4j and validated by :func:`graph.load_tables`.

    Reads ``(:Account {account_id, created_at, <attributes>})``; identifiers from
    ``(:Account)-[:USES]->(:Identifier {kind, value})`` (one row per observation when
    the relationship has ``seen_at`` as the sync writes it, else one row at
    ``first_seen`` and one at ``last_seen``); edges from every other
    Account-to-Account relationship except ``SAME_ACTOR`` (kind = its ``kind``
    property, else the lower-cased type); enforcement from
    ``(:Account)-[:HAS_ENFORCEMENT]->(:Enforcement {action, at, reason})``. Account
    properties the sync derives (score, rank, flagged, ...) are not attributes.
    """
    with _Target(target, database) as t:
        acc = _read(t, ACCOUNTS_QUERY, skip=list(RESERVED_ACCOUNT_PROPS))
        ids = _read(t, IDENTIFIERS_QUERY)
        edges = _read(t, EDGES_QUERY)
        enf = _read(t, ENFORCEMENT_QUERY)
        label = f"neo4j {t.uri} database {t.database or '(default)'}"

    skip = set(RESERVED_ACCOUNT_PROPS)
    attrs: list[dict] = []
    for _, _, props in acc:
        row = {}
        for k, v in props:
            if k.startswith(ATTR_PREFIX) and (k[len(ATTR_PREFIX):] in skip
                                              or k[len(ATTR_PREFIX):].startswith(ATTR_PREFIX)):
                k = k[len(ATTR_PREFIX):]
            row[k] = _attribute_value(v)
        attrs.append(row)
    names = sorted({k for r in attrs for k in r})
    accounts = pd.DataFrame({"account_id": [r[0] for r in acc],
                             "created_at": [r[1] for r in acc]})
    for n in names:
        accounts[n] = pd.Series([r.get(n) for r in attrs], dtype=object).infer_objects()
        if accounts[n].dtype == object and accounts[n].map(
                lambda x: x is None or isinstance(x, (int, float))).all():
            accounts[n] = pd.to_numeric(accounts[n])
    if accounts["created_at"].isna().all():
        accounts = accounts.drop(columns="created_at")

    identifiers = None
    if ids:
        a_col, k_col, v_col, t_col = [], [], [], []
        for acct, kind, value, count, first, last, seen in ids:
            if seen is not None:
                times: list = list(seen)
                if count is not None and count > len(times):
                    times.append(None)          # an observation without a time
                if not times:
                    times = [None]
            else:
                times = [first] if first == last else [first, last]
            n = len(times)
            a_col += [acct] * n
            k_col += [kind] * n
            v_col += [None if value is None else str(value)] * n
            t_col += times
        identifiers = pd.DataFrame({"account_id": a_col, "kind": k_col, "value": v_col,
                                    "seen_at": t_col})
    edge_df = None
    if edges:
        edge_df = pd.DataFrame(edges, columns=["src", "dst", "kind", "weight", "at", "amount"])
    enf_df = None
    if enf:
        enf_df = pd.DataFrame(enf, columns=["account_id", "action", "at", "reason"])
    # an optional column missing on every row was not in the input: leave it out
    for name, df in (("identifiers", identifiers), ("edges", edge_df), ("enforcement", enf_df)):
        if df is None:
            continue
        for col in TABLES[name]["optional"]:
            if col in df.columns and (col != "weight") and df[col].map(
                    lambda v: v is None or v == "" or (isinstance(v, float) and v != v)).all():
                del df[col]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        tables = load_tables(accounts, identifiers=identifiers, edges=edge_df,
                             enforcement=enf_df)
    tables.sources = {name: f"{label}: {name}" for name in tables.sources}
    return tables


def write_tables(tables: Tables, out_dir: str | Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables in the input contract, atomically: ``csv`` (gzip,
    ``<name>.csv.gz``, ISO 8601 UTC timestamps) or ``parquet``."""
    from ringfence.jobs.output import atomic_directory

    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")
    written: dict[str, Path] = {}
    with atomic_directory(out_dir) as tmp:
        for name in TABLES:
            df = tables[name]
            if df is None:
                continue
            if fmt == "parquet":
                path = tmp / f"{name}.parquet"
                df.to_parquet(path, index=False)
            else:
                out = df.copy()
                for c in out.columns:
                    if isinstance(out[c].dtype, pd.DatetimeTZDtype):
                        out[c] = pd.Series(_iso(out[c]), index=out.index, dtype=object)
                path = tmp / f"{name}.csv.gz"
                out.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
            written[name] = path.name  # type: ignore[assignment]
    out_dir = Path(out_dir)
    return {name: out_dir / fname for name, fname in written.items()}


# --------------------------------------------------------------------------- investigator queries

#: relationship types never walked by the investigator queries (they are not links)
NOT_LINKS = ("IN_CLUSTER", "HAS_ENFORCEMENT")


def _native(v: Any) -> Any:
    if isinstance(v, list):
        return [_native(x) for x in v]
    to_native = getattr(v, "to_native", None)
    return to_native() if callable(to_native) else v


def _node_key(node) -> Any:
    props = node._properties if hasattr(node, "_properties") else dict(node)
    if "Account" in node.labels and "account_id" in props:
        return props["account_id"]
    if "kind" in props and "value" in props:
        return (props["kind"], props["value"])
    return node.element_id


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def neighbourhood(driver, account_id: str, hops: int = 2, limit: int = 500, *,
                  database: str | None = None, max_identifier_accounts: int | None = None):
    """The accounts and identifiers within ``hops`` relationships of an account, as a
    ``networkx.MultiGraph`` (one Cypher query).

    Nodes: accounts keyed by ``account_id``, identifiers by ``(kind, value)``, with
    their properties, ``labels`` and ``distance`` (relationships from the account).
    Edges: every ``USES``, account-to-account and ``SAME_ACTOR`` relationship among
    them, with ``type``, ``source`` (the start node's key) and their properties.
    The nearest ``limit`` nodes are kept (``G.graph["truncated"]`` says whether
    more were in range). ``max_identifier_accounts``: do not walk through
    identifiers shared by more accounts (hubs); they still appear.
    Raises ``KeyError`` when the account is not in the database.
    """
    import networkx as nx

    hops = _check_int("hops", hops, 1, 6)
    limit = _check_int("limit", limit, 1, 1_000_000)
    query = (
        "MATCH (c:Account {account_id: $account_id}) "
        f"OPTIONAL MATCH p = (c)-[*1..{hops}]-(n) "
        "WHERE n <> c AND all(r IN relationships(p) WHERE NOT type(r) IN $not_links) "
        "AND ($hub IS NULL OR all(x IN nodes(p)[1..-1] "
        f"WHERE NOT {_any_label('x', IDENTIFIER_NODE_LABELS)} "
        "OR coalesce(x.n_accounts, 0) <= $hub)) "
        "WITH c, n, min(length(p)) AS dist "
        "ORDER BY dist, n.account_id, n.kind, n.value LIMIT $limit_plus "
        "WITH c, collect({node: n, dist: dist}) AS found "
        "WITH [{node: c, dist: 0}] + [f IN found WHERE f.node IS NOT NULL] AS found "
        "WITH found, [f IN found | f.node] AS ns "
        "CALL { WITH ns UNWIND ns AS x MATCH (x)-[r]->(y) "
        "WHERE y IN ns AND NOT type(r) IN $not_links RETURN collect(r) AS rels } "
        "RETURN found, rels")
    params = {"account_id": account_id, "not_links": list(NOT_LINKS),
              "hub": max_identifier_accounts, "limit_plus": limit + 1}
    with driver.session(database=database) as s:
        rows = s.execute_read(lambda tx: [r.values() for r in tx.run(query, params)])
    if not rows:
        raise KeyError(f"no account {account_id!r} in Neo4j")
    found, rels = rows[0]
    truncated = len(found) - 1 > limit
    found = found[: limit + 1]
    g = nx.MultiGraph(center=account_id, hops=hops, truncated=truncated)
    keys: dict[str, Any] = {}
    for f in found:
        node = f["node"]
        key = _node_key(node)
        keys[node.element_id] = key
        g.add_node(key, labels=sorted(node.labels), distance=f["dist"],
                   **{k: _native(v) for k, v in dict(node).items()})
    for r in rels:
        u, v = keys.get(r.start_node.element_id), keys.get(r.end_node.element_id)
        if u is None or v is None:
            continue
        g.add_edge(u, v, type=r.type, source=u, **{k: _native(x) for k, x in dict(r).items()})
    return g


def evidence_paths(driver, account_id: str, max_hops: int = 2, limit: int = 3, *,
                   database: str | None = None) -> list[dict]:
    """The shortest, strongest paths from an account to banned accounts (one query).

    A hop is an account-to-account step: through a shared identifier
    (``USES``/``USES``) or an edge relationship. Paths do not pass through cleared
    or banned accounts, nor through hub identifiers (``weight`` 0: shared by more
    accounts than their kind's share limit). Ranked by hops, then ``strength``
    (the product of the identifiers' linking weights; edges count 1), then the
    banned account's id. Each path: ``banned_account``, ``hops``, ``strength``,
    ``accounts`` (ids along the path), ``steps`` (one per hop: ``via`` "identifier"
    with ``kind``/``value``/``n_accounts``, or "edge" with ``type`` and its
    properties) and ``text``. Identifier values are in clear, as in the database.
    """
    max_hops = _check_int("max_hops", max_hops, 1, 4)
    limit = _check_int("limit", limit, 1, 10_000)
    query = (
        "MATCH (c:Account {account_id: $account_id}) "
        f"MATCH p = (c)-[*1..{2 * max_hops}]-(b:Account) "
        "WHERE b.banned = true AND b <> c "
        "AND all(r IN relationships(p) WHERE NOT type(r) IN $not_links) "
        # not "x <> c": ArcadeDB drops every row when a list predicate over a variable-length
        # path refers to another variable of the pattern; a parameter works on both
        "AND all(x IN nodes(p)[1..-1] WHERE coalesce(x.account_id, '') <> $account_id AND ("
        f"({_any_label('x', IDENTIFIER_NODE_LABELS)} AND coalesce(x.weight, 1.0) > 0) OR "
        "(x:Account AND coalesce(x.cleared, false) = false "
        "AND coalesce(x.banned, false) = false))) "
        "WITH p, b, size([x IN nodes(p) WHERE x:Account]) - 1 AS hops, "
        f"reduce(s = 1.0, x IN nodes(p) | s * CASE WHEN {_any_label('x', IDENTIFIER_NODE_LABELS)} "
        "THEN coalesce(x.weight, 1.0) ELSE 1.0 END) AS strength "
        "WHERE hops <= $max_hops "
        "RETURN p, b.account_id AS banned, hops, strength "
        "ORDER BY hops, strength DESC, banned LIMIT $limit")
    params = {"account_id": account_id, "not_links": list(NOT_LINKS) + ["SAME_ACTOR"],
              "max_hops": max_hops, "limit": limit}
    with driver.session(database=database) as s:
        rows = s.execute_read(lambda tx: [r.values() for r in tx.run(query, params)])
    out = []
    for path, banned, hops, strength in rows:
        nodes = list(path.nodes)
        accounts = [dict(n)["account_id"] for n in nodes if "Account" in n.labels]
        steps: list[dict] = []
        words = [str(account_id)]
        i = 0
        rels = list(path.relationships)
        while i < len(rels):
            nxt = nodes[i + 1]
            if "Account" not in nxt.labels:      # account -USES- identifier -USES- account
                p = dict(nxt)
                steps.append({"via": "identifier", "kind": p.get("kind"),
                              "value": p.get("value"), "n_accounts": p.get("n_accounts"),
                              "weight": p.get("weight")})
                words.append(f"shares {p.get('kind')} {p.get('value')!s} with "
                             f"{dict(nodes[i + 2]).get('account_id')}")
                i += 2
            else:
                r = rels[i]
                steps.append({"via": "edge", "type": r.type,
                              **{k: _native(v) for k, v in dict(r).items()}})
                kind = dict(r).get("kind") or r.type.lower()
                words.append(f"has a {kind} edge with {dict(nxt).get('account_id')}")
                i += 1
        out.append({"account_id": account_id, "banned_account": banned, "hops": hops,
                    "strength": strength, "accounts": accounts, "steps": steps,
                    "text": words[0] + " " + ", then ".join(words[1:]) + " (banned)"})
    return out

"""The input contract: four tables (and an optional fifth), loaded and validated.

ringfence reads four tables (and optionally reviewers' link decisions), each a CSV (``.csv``), gzip CSV (``.csv.gz``) or
Parquet (``.parquet``) file, or a pandas DataFrame given from Python:

``accounts``
    ``account_id`` (non-empty string, unique), optional ``created_at``, and any
    other columns as account attributes (numbers are model features, strings
    are categories).
``identifiers``
    One row per observation that an account used an identifier:
    ``account_id``, ``kind`` (lower-case token such as ``device``, ``ip``,
    ``card``), ``value`` (string), optional ``seen_at``.
``edges``
    Direct account-to-account relations: ``src``, ``dst``, ``kind``, optional
    ``weight`` (positive, default 1), ``at``, ``amount``.
``enforcement``
    ``account_id``, ``action`` (``ban``, ``violation``, ``cleared`` or
    ``lifted``), optional ``at``, ``reason``.

and, for the flag job, a reviewers' decisions log (``decisions``, written by
``ringfence decide``): ``at``, ``account_id``, ``decision`` (``cleared``,
``confirmed`` or ``lifted``), ``by``, ``reason``, every cell required
(:mod:`~ringfence.graph.decisions` says which decision is in force).
``link_decisions`` (optional)
    Reviewers' verdicts on pairs of accounts: ``account_a``, ``account_b``,
    ``decision`` (``same_actor`` or ``different_actors``), ``decided_at``,
    ``decided_by``, optional ``reason`` (see :mod:`~ringfence.graph.link_decisions`).

Timestamps are ISO 8601 strings or Unix time (seconds, milliseconds, ... by
magnitude) between 1970 and 2100, stored as UTC (see :mod:`~ringfence.graph.timestamps`).
Every problem class is reported once with the file, the column, how many
rows and up to five example rows; all problems of all tables are collected
before :class:`InputError` is raised, so one run shows everything to fix.
"""

from __future__ import annotations

import difflib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ringfence.graph._arrow import (codes, column_key, duplicated_rows, positions, same_column,
                                    text_to_float)
from ringfence.graph.cpus import thread_budget
from ringfence.graph.decisions import DECISIONS, LOG_COLUMNS
from ringfence.graph.link_decisions import check_link_decisions
from ringfence.graph.memory import release_freed_memory
from ringfence.graph.problems import InputError, InputWarning, Problem, shown
from ringfence.graph.reading import duplicated_columns, file_kind, read_table
from ringfence.graph.text import clean_text, strip_whitespace
from ringfence.graph.timestamps import TimeError, check_time_format, newest_time, parse_times

__all__ = [
    "TABLES",
    "ACTIONS",
    "InputError",
    "InputWarning",
    "Problem",
    "Tables",
    "load_tables",
    "example_tables",
    "read_table",
]

ACTIONS = ("ban", "violation", "cleared", "lifted")

# Column contract per table: required columns, then optional ones.
TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "accounts": {"required": ("account_id",), "optional": ("created_at",)},
    "identifiers": {"required": ("account_id", "kind", "value"), "optional": ("seen_at",)},
    "edges": {"required": ("src", "dst", "kind"), "optional": ("weight", "at", "amount")},
    "enforcement": {"required": ("account_id", "action"), "optional": ("at", "reason")},
    "decisions": {"required": LOG_COLUMNS, "optional": ()},
    "link_decisions": {"required": ("account_a", "account_b", "decision", "decided_at",
                                    "decided_by"), "optional": ("reason",)},
}
TIME_COLUMNS = {"accounts": ("created_at",), "identifiers": ("seen_at",),
                "edges": ("at",), "enforcement": ("at",), "decisions": ("at",),
                "link_decisions": ("decided_at",)}
# reviewers decide on the platform's past: their times say nothing of the data's as-of time
_DATA_TIMES = {k: v for k, v in TIME_COLUMNS.items() if k not in ("decisions", "link_decisions")}
_KIND_RE = r"[a-z][a-z0-9_]*"
_MAX_EXAMPLES = 5
# how close (difflib ratio, case ignored) an unknown column's name must be to an absent
# contract column to be refused as a misspelling. Unknown columns of accounts are
# attributes, so only a letter dropped, added or swapped is refused there ('creatd_at',
# 'createdAt': 0.95) and 'created_by' or 'created_on' (0.80) stay attributes; the other
# tables ignore unknown columns, so a looser match costs nothing but a rename
_MISSPELLING_CUTOFF = {"accounts": 0.85, "identifiers": 0.6, "edges": 0.6, "enforcement": 0.6,
                       "decisions": 0.6, "link_decisions": 0.6}


@dataclass
class Tables:
    """Validated input tables (DataFrames); absent optional tables are ``None``.

    Column types after loading: ids, ``kind``, ``value``, ``action`` and
    ``reason`` are strings; timestamps are ``datetime64[ns, UTC]`` (NaT when
    missing); ``weight`` and ``amount`` are float64 (weight defaults to 1).
    """

    accounts: pd.DataFrame
    identifiers: pd.DataFrame | None = None
    edges: pd.DataFrame | None = None
    enforcement: pd.DataFrame | None = None
    link_decisions: pd.DataFrame | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    time_format: str | None = None
    decisions: pd.DataFrame | None = None
    # what loading could not settle for sure (an undated clearance): shown as warnings
    warnings: list[str] = field(default_factory=list)
    # integer encodings of id columns computed while loading, reused by the graph build:
    # (table, column, what) -> (key of the column they describe, key of accounts.account_id, array)
    _encoded: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def account_positions(self, table: str, column: str = "account_id") -> np.ndarray:
        """Row position in ``accounts`` of the account named in each row (-1 if unknown).

        Computed once while loading and reused while the columns are unchanged
        (hashing 8.5 million id strings takes seconds).
        """
        col, ids = self[table][column], self.accounts["account_id"]  # type: ignore[index]
        hit = self._encoded.get((table, column, "positions"))
        if hit is not None and same_column(hit[0], col) and same_column(hit[1], ids):
            return hit[2]
        out = positions(col, pd.Index(ids))
        self._remember(table, column, "positions", out)
        return out

    def value_codes(self, table: str, column: str) -> np.ndarray:
        """Dense integer code of each row's value, numbered in order of first appearance."""
        col = self[table][column]  # type: ignore[index]
        hit = self._encoded.get((table, column, "codes"))
        if hit is not None and same_column(hit[0], col):
            return hit[2]
        out = codes(col)
        self._remember(table, column, "codes", out)
        return out

    def drop(self, *names: str) -> None:
        """Let the named tables go (set them to ``None``) with their cached encodings.

        Batch jobs call this once the graph holds what they need, so that the
        memory is free for the next stage.
        """
        for name in names:
            if name not in TABLES or name == "accounts":
                raise ValueError(f"cannot drop {name!r}: use one of identifiers, edges, "
                                 "enforcement, decisions, link_decisions")
            setattr(self, name, None)
            for key in [k for k in self._encoded if k[0] == name]:
                del self._encoded[key]

    def _remember(self, table: str, column: str, what: str, values: np.ndarray) -> None:
        key = column_key(self[table][column])  # type: ignore[index]
        if key is not None:
            self._encoded[(table, column, what)] = (
                key, column_key(self.accounts["account_id"]), values)

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        if name not in TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def require(self, *names: str, any_of: Iterable[str] = ()) -> None:
        """Raise :class:`InputError` unless the named tables (and one of ``any_of``) are present."""
        problems = [Problem(n, "--" + n, None, f"the '{n}' table is required for this job")
                    for n in names if self[n] is None]
        any_of = tuple(any_of)
        if any_of and all(self[n] is None for n in any_of):
            problems.append(Problem(any_of[0], " or ".join("--" + n for n in any_of), None,
                                    "at least one of these tables is required for this job"))
        if problems:
            raise InputError(problems)

    def summary(self) -> dict[str, object]:
        """Counts that describe what was read (for printing and run records)."""
        out: dict[str, object] = {"accounts": len(self.accounts)}
        attrs = [c for c in self.accounts.columns if c not in ("account_id", "created_at")]
        out["account_attributes"] = len(attrs)
        if self.identifiers is not None:
            idf = self.identifiers
            out["identifier_observations"] = len(idf)
            out["identifiers_by_kind"] = (
                idf.groupby("kind", observed=True)["value"].nunique().sort_index().to_dict())
        if self.edges is not None:
            out["edges"] = len(self.edges)
            out["edges_by_kind"] = self.edges["kind"].value_counts().sort_index().to_dict()
        if self.enforcement is not None:
            enf = self.enforcement
            out["enforcement_by_action"] = enf["action"].value_counts().sort_index().to_dict()
            out["banned_accounts"] = int(enf.loc[enf["action"] == "ban", "account_id"].nunique())
            out["cleared_accounts"] = int(
                enf.loc[enf["action"] == "cleared", "account_id"].nunique())
        if self.decisions is not None:
            out["decisions_by_kind"] = (
                self.decisions["decision"].value_counts().sort_index().to_dict())
        if self.link_decisions is not None:
            out["link_decisions"] = (self.link_decisions["decision"].value_counts()
                                     .sort_index().to_dict())
        times = [df[c] for name, cols in _DATA_TIMES.items() for c in cols
                 if (df := self[name]) is not None and c in df.columns]
        times = [t for t in times if t.notna().any()]
        if times:
            out["first_timestamp"] = min(t.min() for t in times).isoformat()
            out["last_timestamp"] = max(t.max() for t in times).isoformat()
        return out

    def newest_timestamp(self) -> pd.Timestamp | None:
        """The default as-of time: the newest timestamp in the input, robustly.

        A few newest timestamps that stand more than 30 days apart from all
        the others are ignored, with a note in :attr:`notes` (the rule:
        :func:`~ringfence.graph.timestamps.newest_time`).
        """
        # a reviewer's decision comes after the activity it judges: not a clock of the platform
        columns = {f"{self.sources.get(name, name)}, column '{c}'": df[c]
                   for name, cols in _DATA_TIMES.items() if (df := self[name]) is not None
                   for c in cols if c in df.columns}
        as_of, note = newest_time(columns)
        if note is not None and note not in self.notes:
            self.notes.append(note)
        return as_of


# --------------------------------------------------------------------------- validation


def _row_label(source_is_csv: bool, idx: np.ndarray) -> list[str]:
    # CSV users look at line numbers (header is line 1); DataFrames and Parquet at row positions.
    return [f"line {i + 2}" if source_is_csv else f"row {i}" for i in idx]


def _examples(df: pd.DataFrame, mask: np.ndarray, cols: list[str], is_csv: bool) -> list[str]:
    idx = np.flatnonzero(mask)[:_MAX_EXAMPLES]
    # the index holds the row's position in the file (rows dropped as duplicates keep it)
    labels = _row_label(is_csv, np.asarray(df.index)[idx])
    cols = [c for c in cols if c in df.columns]
    out = []
    for label, i in zip(labels, idx):
        row = df.iloc[i]
        out.append(f"{label}: " + ", ".join(f"{c}={row[c]!r}" for c in cols))
    return out


def _to_text(col: pd.Series) -> pd.Series:
    """Strings with missing values as ''; numbers written as ids become '123', not '123.0'."""
    if pd.api.types.is_float_dtype(col):
        as_int = col.dropna()
        if (as_int == as_int.round()).all():
            col = col.astype("Int64")
    if not pd.api.types.is_string_dtype(col):
        col = col.astype("string")
    return col.fillna("").astype("str")


def _as_str(col: pd.Series) -> pd.Series:
    """:func:`_to_text` with surrounding whitespace stripped (CSV exports pad cells)."""
    return strip_whitespace(_to_text(col))[0]


def _close_name(name: str, names: Iterable[str], cutoff: float) -> str | None:
    """The name in ``names`` that ``name`` most likely misspells (case ignored), or None."""
    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def _parse_time(df: pd.DataFrame, col: str, v: "_Validator", cols: list[str]) -> pd.Series:
    """Parse one time column (see graph.timestamps); refused cells become problems."""
    parsed = parse_times(df[col], v.time_format)
    for message, mask in parsed.problems(df[col]):
        v.add(col, message, df, mask, cols)
    if parsed.unit is not None:
        v.notes.append(f"{v.source}, column '{col}': numbers read as Unix {parsed.unit}")
    return parsed.times


class _Validator:
    def __init__(self, table: str, source: str, is_csv: bool, time_format: str | None = None):
        self.table, self.source, self.is_csv = table, source, is_csv
        self.time_format = time_format
        self.problems: list[Problem] = []
        self.notes: list[str] = []

    def add(self, column: str | None, message: str, df: pd.DataFrame | None = None,
            mask: np.ndarray | None = None, cols: list[str] | None = None) -> None:
        n = int(mask.sum()) if mask is not None else 0
        ex = _examples(df, mask, cols or ([column] if column else []), self.is_csv) \
            if df is not None and mask is not None else []
        self.problems.append(Problem(self.table, self.source, column, message, n, ex))

    def columns(self, df: pd.DataFrame) -> bool:
        spec = TABLES[self.table]
        known = set(spec["required"]) | set(spec["optional"])
        present = list(df.columns)
        ok = True
        for col in spec["required"]:
            if col in present:
                continue
            close = _close_name(col, [c for c in present if c not in known], 0.6)
            hint = f" (found '{shown(close)}': misspelled?)" if close else ""
            self.add(col, f"missing required column{hint}; columns found: "
                     + ", ".join(repr(c) for c in present))
            ok = False
        # an unknown column close to an absent optional one is a typo, not an attribute
        # ('creatd_at') or a column to ignore ('wieght'): refused in every table
        absent = [c for c in spec["optional"] if c not in present]
        for col in present:
            if col in known:
                continue
            close = _close_name(col, absent, _MISSPELLING_CUTOFF[self.table])
            if close:
                self.add(col, f"looks like a misspelling of '{close}'")
                ok = False
            elif self.table != "accounts":
                self.notes.append(f"{self.source}: ignored unknown column '{shown(col)}'")
        for problem in duplicated_columns(self.table, self.source, present):
            self.problems.append(problem)
            ok = False
        return ok

    def text(self, df: pd.DataFrame, col: str, cols: list[str]) -> pd.Series:
        """An id, ``kind`` or ``value`` column as strings: whitespace around them stripped
        (counted in a note), control and invisible format characters refused."""
        s, n, bad = clean_text(_to_text(df[col]))
        if n:
            self.notes.append(f"{self.source}, column '{shown(col)}': stripped surrounding "
                              f"whitespace (spaces, tabs, NBSP...) from {n:,} "
                              f"value{'s' if n != 1 else ''}")
        if bad.any():
            self.add(col, "control or invisible characters (NUL, tab, line break, zero-width "
                     "space, BOM, bidi override...; shown escaped): remove them",
                     df.assign(**{col: s}), bad, cols)
        return s


def _ids(df: pd.DataFrame, col: str, v: _Validator, cols: list[str] | None = None) -> pd.Series:
    s = v.text(df, col, cols or [col])
    empty = (s == "").to_numpy()
    if empty.any():
        v.add(col, "empty id", df, empty, [col])
    return s


def _validate_accounts(df: pd.DataFrame, v: _Validator) -> pd.DataFrame:
    df = df.copy()
    df["account_id"] = _ids(df, "account_id", v)
    dup = df["account_id"].duplicated(keep=False).to_numpy() & (df["account_id"] != "").to_numpy()
    if dup.any():
        v.add("account_id", "duplicate account_id", df, dup, ["account_id"])
    if "created_at" in df.columns:
        df["created_at"] = _parse_time(df, "created_at", v, ["account_id", "created_at"])
    for col in df.columns:
        if col in ("account_id", "created_at"):
            continue
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].astype("string").str.strip().astype("category")
    return df


def _validate_generic(df: pd.DataFrame, v: _Validator) -> pd.DataFrame:
    table = v.table
    spec = TABLES[table]
    keep = [c for c in df.columns if c in spec["required"] + spec["optional"]]
    df = df[keep].copy()
    if table == "decisions" and v.is_csv:
        for col in ("account_id", "by", "reason"):
            df[col] = _unquote(df[col])
    undated = None
    if table == "decisions":
        at = df["at"]
        undated = at.isna().to_numpy() if not (at.dtype == object or
                                               pd.api.types.is_string_dtype(at)) \
            else (_as_str(at) == "").to_numpy()
    id_cols = _ID_COLUMNS[table]
    for col in id_cols:
        df[col] = _ids(df, col, v, list(id_cols))
    if "kind" in df.columns:
        kind = _as_str(df["kind"]).astype("category")
        # check each distinct kind once, not every row
        ok_cat = np.asarray(kind.cat.categories.str.fullmatch(_KIND_RE), dtype=bool)
        bad = ~ok_cat[kind.cat.codes.to_numpy()] if len(ok_cat) else np.zeros(len(kind), bool)
        df["kind"] = kind
        if bad.any():
            v.add("kind", "kind must be a lower-case token (letters, digits, _), e.g. 'device'",
                  df, bad, list(id_cols) + ["kind"])
    if "value" in df.columns:
        df["value"] = v.text(df, "value", ["account_id", "kind", "value"])
        bad = (df["value"] == "").to_numpy()
        if bad.any():
            v.add("value", "empty identifier value", df, bad, ["account_id", "kind", "value"])
    if "action" in df.columns:
        raw = _as_str(df["action"])
        df["action"] = raw.str.lower()
        bad = ~df["action"].isin(ACTIONS).to_numpy()
        if bad.any():
            v.add("action", "unknown action; expected one of " + ", ".join(ACTIONS),
                  df.assign(action=raw), bad, ["account_id", "action"])
    if table == "decisions":
        _validate_decisions(df, v)
    elif "reason" in df.columns:
        df["reason"] = _as_str(df["reason"])
    for col in TIME_COLUMNS[table]:
        if col in df.columns:
            df[col] = _parse_time(df, col, v, list(id_cols) + [col])
    if undated is not None and undated.any():
        v.add("at", "no time: every decision says when it was made", df, undated,
              ["account_id", "decision", "at"])
    for col in ("weight", "amount"):
        if col not in df.columns:
            continue
        raw = df[col]
        fast = text_to_float(raw) if pd.api.types.is_string_dtype(raw) else None
        num = pd.to_numeric(raw, errors="coerce").astype("float64") if fast is None \
            else pd.Series(fast, index=raw.index)
        given = (_as_str(raw) != "").to_numpy() if not pd.api.types.is_numeric_dtype(raw) \
            else raw.notna().to_numpy()
        nonnum = given & num.isna().to_numpy()
        if nonnum.any():
            v.add(col, "not a number", df, nonnum, ["src", "dst", col])
        if col == "weight":
            nonpos = given & ~nonnum & ~(num > 0).to_numpy()
            bad_inf = given & ~np.isfinite(num.fillna(1.0).to_numpy())
            if (nonpos | bad_inf).any():
                v.add(col, "weight must be a positive finite number", df, nonpos | bad_inf,
                      ["src", "dst", col])
            num = num.fillna(1.0)
        df[col] = num
    if table == "edges" and "weight" not in df.columns:
        df["weight"] = 1.0
    return df


def _validate_decisions(df: pd.DataFrame, v: _Validator) -> None:
    """The decision, who and why of each logged decision (its time is checked below)."""
    cols = ["account_id", "decision", "by", "reason"]
    raw = _as_str(df["decision"])
    df["decision"] = raw.str.lower()
    bad = ~df["decision"].isin(DECISIONS).to_numpy()
    if bad.any():
        v.add("decision", "unknown decision; expected one of " + ", ".join(DECISIONS),
              df.assign(decision=raw), bad, cols)
    for col, what in (("by", "who decided"), ("reason", "why")):
        df[col] = v.text(df, col, cols)
        empty = (df[col] == "").to_numpy()
        if empty.any():
            v.add(col, f"empty: every decision says {what}", df, empty, cols)


def _unquote(col: pd.Series) -> pd.Series:
    """One leading quote removed: ``ringfence decide`` writes the log's text cells with
    the run folders' rule against formula injection (jobs.runs.write_table)."""
    s = _to_text(col)
    hit = s.str.startswith("'").to_numpy(bool)
    return s.mask(hit, s[hit].str.slice(1)) if hit.any() else s


def _undated_clearances(df: pd.DataFrame, source: str, is_csv: bool) -> str | None:
    """A warning for undated ``cleared``/``lifted`` rows of accounts with a dated ban: they
    are taken as later than the ban (graph.decisions), which a time would make sure of."""
    if "at" not in df.columns:
        return None
    dated_ban = df.loc[(df["action"] == "ban").to_numpy() & df["at"].notna().to_numpy(),
                       "account_id"]
    hit = (df["action"].isin(["cleared", "lifted"]).to_numpy() & df["at"].isna().to_numpy()
           & df["account_id"].isin(dated_ban).to_numpy())
    if not hit.any():
        return None
    n = int(hit.sum())
    rows = "\n".join(f"    {e}" for e in _examples(df, hit, ["account_id", "action", "at"],
                                                      is_csv))
    return (f"{source}, column 'at': {n:,} undated 'cleared' or 'lifted' row"
            f"{'s' if n != 1 else ''} of accounts with a dated ban: taken as later than the "
            f"ban, so the clearance applies (give its time to be sure)\n{rows}")


def _drop_duplicates(df: pd.DataFrame, enc: dict[tuple[str, str], np.ndarray],
                     notes: list[str], source: str) -> tuple[pd.DataFrame, dict]:
    """Drop exact duplicate rows (after typing: ' a' and 'a' are the same id)."""
    # codes already computed for the id columns save hashing them again; positions of
    # unknown accounts (-1) cannot tell two unknown ids apart, so those are hashed
    known = {c: a for (c, what), a in enc.items() if what == "codes" or (a >= 0).all()}
    dup = duplicated_rows(df, known)
    n = int(dup.sum())
    if n:
        msg = f"{source}: dropped {n:,} exact duplicate row{'s' if n != 1 else ''}"
        warnings.warn(msg, InputWarning, stacklevel=3)
        notes.append(msg)
        df = df.loc[~dup]
        enc = {k: a[~dup] for k, a in enc.items()}
    return df, enc


def _check_references(df: pd.DataFrame, cols: tuple[str, ...],
                      enc: dict[tuple[str, str], np.ndarray], v: _Validator) -> None:
    for col in cols:
        unknown = (enc[(col, "positions")] < 0) & (df[col] != "").to_numpy()
        if unknown.any():
            v.add(col, "references an account_id that is not in the accounts table",
                  df, unknown, list(cols) + ([c for c in ("kind",) if c in df.columns]))


_ID_COLUMNS = {"identifiers": ("account_id",), "edges": ("src", "dst"),
               "enforcement": ("account_id",), "decisions": ("account_id",),
               "link_decisions": ("account_a", "account_b")}


def load_tables(accounts: str | os.PathLike | pd.DataFrame,
                identifiers: str | os.PathLike | pd.DataFrame | None = None,
                edges: str | os.PathLike | pd.DataFrame | None = None,
                enforcement: str | os.PathLike | pd.DataFrame | None = None,
                link_decisions: str | os.PathLike | pd.DataFrame | None = None, *,
                time_format: str | None = None,
                decisions: str | os.PathLike | pd.DataFrame | None = None) -> Tables:
    """Read and validate the input tables.

    Parameters
    ----------
    accounts, identifiers, edges, enforcement, link_decisions
        A path (``.csv``, ``.csv.gz`` or ``.parquet``) or a DataFrame. Only
        ``accounts`` is required here; each job says which others it needs.
    time_format
        A :func:`~datetime.datetime.strptime` format (``"%d/%m/%Y"``) for time
        text that is not ISO 8601, in every time column of every table.
    decisions
        The reviewers' decisions log (``ringfence decide``), read on top of
        ``enforcement`` (see :mod:`~ringfence.graph.decisions`).

    Returns
    -------
    Tables
        The validated tables with typed columns. Exact duplicate rows and
        self-loop edges are dropped with an :class:`InputWarning`.

    Raises
    ------
    InputError
        Listing every problem class found in every table, each with the file,
        the column, the number of rows and up to five example rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from ringfence.graph import load_tables
    >>> t = load_tables(pd.DataFrame({"account_id": ["a", "b"]}),
    ...                 identifiers=pd.DataFrame({"account_id": ["a", "b"],
    ...                                           "kind": "device", "value": "d1"}))
    >>> t.summary()["identifiers_by_kind"]
    {'device': 1}
    """
    if time_format is not None:
        try:
            check_time_format(time_format)
        except TimeError as e:  # an option, not a table: no row to show
            raise InputError([Problem("options", "--time-format (time_format=)", None,
                                      str(e))]) from None
    given: dict[str, object] = {"accounts": accounts, "identifiers": identifiers,
                                "edges": edges, "enforcement": enforcement,
                                "decisions": decisions,
                                "link_decisions": link_decisions}
    problems: list[Problem] = []
    notes: list[str] = []
    out: dict[str, pd.DataFrame | None] = {}
    sources: dict[str, str] = {}
    validators: dict[str, _Validator] = {}
    for name, src in given.items():
        if src is None:
            out[name] = None
            continue
        label = f"{name} (DataFrame)" if isinstance(src, pd.DataFrame) else str(src)
        sources[name] = label
        is_csv = not isinstance(src, pd.DataFrame) and file_kind(Path(src)).startswith("csv")
        try:
            raw = read_table(src, name)
        except InputError as e:
            problems.extend(e.problems)
            out[name] = None
            continue
        raw.columns = [str(c).strip() for c in raw.columns]
        v = _Validator(name, label, is_csv, time_format)
        if len(raw) == 0:
            if name == "accounts":
                v.add(None, "no rows (only a header)")
            else:
                notes.append(f"{label}: no rows")
        if not v.columns(raw):
            problems.extend(v.problems)
            out[name] = None
            continue
        validators[name] = v
        df = _validate_accounts(raw, v) if name == "accounts" else _validate_generic(raw, v)
        if name == "link_decisions":
            df = check_link_decisions(df, v)
        problems.extend(v.problems)
        notes.extend(v.notes)
        out[name] = df

    # id columns are hashed once here: positions in accounts for the reference check, the
    # duplicate check and the graph build; identifier values as codes
    acc = out["accounts"]
    known = pd.Index(acc["account_id"]) if acc is not None else None
    done = {}
    if out["identifiers"] is not None:
        # alone, then handed back: coding the values is the largest transient of loading
        # (hash tables of distinct values, see graph._arrow.codes) and Arrow's allocator
        # would keep it after use
        done["identifiers", "value", "codes"] = codes(out["identifiers"]["value"])
        release_freed_memory()
    jobs = {(name, c, "positions"): (out[name][c], known)
            for name, cols in _ID_COLUMNS.items() if out[name] is not None and known is not None
            for c in cols}
    # Arrow's hash kernels release the GIL: the columns are looked up side by side
    with ThreadPoolExecutor(min(len(jobs), thread_budget()) or 1) as pool:
        futures = {k: pool.submit(positions, *a) for k, a in jobs.items()}
        done.update({k: f.result() for k, f in futures.items()})
    release_freed_memory()
    encoded: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    found: list[str] = []  # warnings
    for name, cols in _ID_COLUMNS.items():
        df = out[name]
        if df is None:
            continue
        enc = {(c, what): v for (t, c, what), v in done.items() if t == name}
        df, enc = _drop_duplicates(df, enc, notes, sources[name])
        if known is not None:
            v = _Validator(name, sources[name], validators[name].is_csv)
            _check_references(df, cols, enc, v)
            problems.extend(v.problems)
        if name == "enforcement" and (w := _undated_clearances(
                df, sources[name], validators[name].is_csv)):
            warnings.warn(w, InputWarning, stacklevel=2)
            found.append(w)
        out[name], encoded[name] = df, enc
    if problems:
        raise InputError(problems)

    edf = out["edges"]
    if edf is not None:
        enc = encoded["edges"]
        loops = enc[("src", "positions")] == enc[("dst", "positions")]
        if loops.any():
            msg = f"{sources['edges']}: dropped {int(loops.sum()):,} self-loop edge(s)"
            warnings.warn(msg, InputWarning, stacklevel=2)
            notes.append(msg)
            out["edges"] = edf.loc[~loops]
            encoded["edges"] = {k: a[~loops] for k, a in enc.items()}
    for name in ("identifiers", "edges", "enforcement"):
        df = out[name]
        if df is not None and "kind" in df.columns:
            df["kind"] = df["kind"].astype("category")
    if out["enforcement"] is not None:
        out["enforcement"]["action"] = out["enforcement"]["action"].astype("category")
    out = {k: (df.reset_index(drop=True) if df is not None else None) for k, df in out.items()}
    tables = Tables(accounts=out["accounts"], identifiers=out["identifiers"],  # type: ignore[arg-type]
                    edges=out["edges"], enforcement=out["enforcement"],
                    link_decisions=out["link_decisions"], sources=sources,
                    notes=notes, time_format=time_format, decisions=out["decisions"],
                    warnings=found)
    tables.newest_timestamp()  # notes timestamps that the default as-of time ignores
    for name, enc in encoded.items():
        for (col, what), values in enc.items():
            tables._remember(name, col, what, values)
    release_freed_memory()
    return tables


def example_tables() -> Tables:
    """Three accounts for docstring examples: ``a`` and ``b`` share device ``d1``, ``c``
    uses ``d2``, and ``a`` was banned on 2026-01-01.

    Examples
    --------
    >>> example_tables().summary()["accounts"]
    3
    """
    return load_tables(
        pd.DataFrame({"account_id": ["a", "b", "c"]}),
        identifiers=pd.DataFrame({"account_id": ["a", "b", "c"], "kind": "device",
                                  "value": ["d1", "d1", "d2"]}),
        enforcement=pd.DataFrame({"account_id": ["a"], "action": ["ban"],
                                  "at": ["2026-01-01"]}))

"""The input tables on Spark: read (files, ``.csv.gz``, Parquet files and folders, Spark
DataFrames) and checked against the input contract with Spark aggregations.

The two tables that grow with activity, ``identifiers`` and ``edges``, stay on Spark: every
contract check on them is a counted filter (one aggregation per table, then at most five
example rows per problem class), never a collect. The tables the driver needs whole for
scoring and ranking (``accounts``, ``enforcement``, the decisions logs) are read on Spark
when they are folders or DataFrames, then checked by the in-process contract
(:func:`ringfence.graph.tables.load_tables`), so both engines refuse the same things.
Problems of every table are raised together as one :class:`InputError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ringfence.graph.problems import InputError, Problem, shown
from ringfence.graph.reading import checked_kind, file_kind
from ringfence.graph.tables import (_DATA_TIMES, _ID_COLUMNS, _KIND_RE, TABLES, TIME_COLUMNS,
                                    Tables,
                                    _Validator, load_tables)
from ringfence.graph.text import INVISIBLE
from ringfence.graph.timestamps import (OUTSIDE, UNPARSEABLE, WINDOW, _UNITS,
                                        as_nanoseconds, check_time_format, as_of_from_newest,
                                        newest_needed)

__all__ = ["SparkTables", "load_spark_tables", "read_frame", "SPARK_TABLES", "spark_time_pattern"]

#: the tables that stay on Spark; the others are collected to the driver
SPARK_TABLES = ("identifiers", "edges")
_MAX_EXAMPLES = 5
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
# Python's str.strip() whitespace, as a Java regular expression (Unicode classes)
_PADDING = r"(?U)^\s+|\s+$"
_WINDOW_US = (0, WINDOW[1].value // 1000)
# strptime directive -> Spark datetime pattern: (alone, beside another number directive). A lone letter reads one or two digits as strptime does ("3/1/2025" with %d/%m/%Y);
# digits run together (%Y%m%d) need fixed widths. %z takes "+0200", "+02:00" and "Z".
_SPARK_DIRECTIVES = {"Y": ("yyyy", "yyyy"), "m": ("M", "MM"), "d": ("d", "dd"),
                     "H": ("H", "HH"), "M": ("m", "mm"), "S": ("s", "ss"), "I": ("h", "hh"),
                     "j": ("D", "DDD"), "f": ("SSSSSS", "SSSSSS"), "p": ("a", "a"),
                     "b": ("MMM", "MMM"), "B": ("MMMM", "MMMM"), "z": ("[XXX][XX]", "XX")}
_NUMBER_DIRECTIVES = set("YmdHMSIjf")
# what Spark cannot parse as strptime does, and why (Spark parses no day names, and reads
# two-digit years from 2000 where strptime puts 69-99 in the 1900s)
_NOT_ON_SPARK = {"a": "day names", "A": "day names", "y": "two-digit years (use %Y)",
                 "Z": "zone names", "c": "locale formats", "x": "locale formats",
                 "X": "locale formats", "U": "week numbers", "W": "week numbers",
                 "w": "weekday numbers", "u": "weekday numbers", "G": "ISO week years",
                 "V": "ISO week numbers"}


@dataclass
class SparkTables(Tables):
    """:class:`Tables` whose ``identifiers`` and ``edges`` are Spark DataFrames in ``frames``.

    ``accounts``, ``enforcement``, ``decisions`` and ``link_decisions`` are pandas, as
    in-process; ``identifiers`` and ``edges`` are None here and live, validated and typed
    (ids, ``kind``, ``value`` trimmed strings; times UTC timestamps; ``weight`` and
    ``amount`` doubles), in ``frames``. ``counts`` holds their row counts.
    """

    frames: dict[str, DataFrame] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def require(self, *names: str, any_of=()) -> None:
        present = {n for n in TABLES if self[n] is not None} | set(self.frames)
        missing = [n for n in names if n not in present]
        problems = [Problem(n, "--" + n, None, f"the '{n}' table is required for this job")
                    for n in missing]
        any_of = tuple(any_of)
        if any_of and not present & set(any_of):
            problems.append(Problem(any_of[0], " or ".join("--" + n for n in any_of), None,
                                    "at least one of these tables is required for this job"))
        if problems:
            raise InputError(problems)

    def newest_timestamp(self) -> pd.Timestamp | None:
        """The as-of rule of :func:`ringfence.graph.timestamps.newest_time`, with the newest
        timestamps of the Spark tables taken by Spark (``cap + 1`` of them per column)."""
        columns: dict[str, Any] = {
            f"{self.sources.get(name, name)}, column '{c}'": df[c]
            for name, cols in _DATA_TIMES.items() if (df := self[name]) is not None
            for c in cols if c in df.columns}
        for name, frame in self.frames.items():
            for c in _DATA_TIMES[name]:
                if c in frame.columns:
                    columns[f"{self.sources.get(name, name)}, column '{c}'"] = frame.select(c)
        as_of, note = newest_time_distributed(columns)
        if note is not None and note not in self.notes:
            self.notes.append(note)
        return as_of


def newest_time_distributed(columns: dict[str, Any]) -> tuple[pd.Timestamp | None, str | None]:
    """:func:`~ringfence.graph.timestamps.newest_time` over pandas Series and one-column
    Spark DataFrames: the rule needs the count of timestamps and the newest ``cap + 1``."""
    counts, top = {}, {}
    for label, col in columns.items():
        if isinstance(col, DataFrame):
            counts[label] = col.na.drop().count()
        else:
            counts[label] = int(col.notna().sum())
    n = sum(counts.values())
    need = newest_needed(n)
    for label, col in columns.items():
        if isinstance(col, DataFrame):
            name = col.columns[0]
            rows = col.na.drop().orderBy(F.col(name).desc()).limit(need) \
                .select(F.unix_micros(name).alias("t")).collect()
            top[label] = np.array([r["t"] * 1000 for r in rows], np.int64)
        else:
            top[label] = np.sort(as_nanoseconds(col))[::-1][:need]  # any pandas unit
    return as_of_from_newest(n, top)


# --------------------------------------------------------------------------- reading


def _is_parquet_folder(path: Path) -> bool:
    return any(p.suffix in (".parquet", ".pq") or p.name.startswith("part-")
               and not p.name.endswith((".csv", ".csv.gz"))
               for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))


def read_frame(spark: SparkSession, source: Any, table: str) -> tuple[DataFrame, str, bool]:
    """One input table as a Spark DataFrame: ``(frame, label, is_csv)``.

    ``source`` is a Spark DataFrame, a pandas DataFrame, or a path: a ``.csv``,
    ``.csv.gz`` or ``.parquet`` file, or a folder of them (a partitioned Parquet
    table as Spark writes it; partition columns become columns). CSV cells are
    read as text, as in-process. Raises :class:`InputError` for a missing path
    or a folder without data files.
    """
    if isinstance(source, DataFrame):
        return source, f"{table} (Spark DataFrame)", False
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        for c in frame.columns:  # Arrow carries categories as dictionaries: plain text here
            if isinstance(frame[c].dtype, pd.CategoricalDtype):
                frame[c] = frame[c].astype(str)
        return spark.createDataFrame(frame), f"{table} (DataFrame)", False
    path = Path(os.fspath(source))
    label = str(path)

    def fail(message: str) -> InputError:
        return InputError([Problem(table, label, None, message)])

    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))]
        if not files:
            raise fail("folder holds no data files")
        kinds = {file_kind(p) for p in files}
        if _is_parquet_folder(path) and not kinds & {"csv", "csv.gz"}:
            return _parquet_or_problem(spark, path, files, fail), label, False
        if kinds <= {"csv", "csv.gz"}:
            return _read_csv(spark, str(path)), label, True
        raise fail("folder mixes file types: use one of .csv, .csv.gz or .parquet")
    kind = checked_kind(path, table)  # the in-process checks: missing, empty, wrong content
    if kind == "parquet":
        return _parquet_or_problem(spark, path, [path], fail), label, False
    return _read_csv(spark, str(path)), label, True


def _parquet_or_problem(spark: SparkSession, path: Path, files: list[Path], fail) -> DataFrame:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    try:
        return _read_parquet(spark, path, files)
    except (AnalysisException, Py4JJavaError) as exc:  # the problem, not a Java traceback
        text = str(exc.java_exception.getMessage()) if isinstance(exc, Py4JJavaError) \
            else str(exc)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise fail(f"Spark cannot read it as Parquet: {first[:300]}") from None


def _read_parquet(spark: SparkSession, path: Path, files: list[Path]) -> DataFrame:
    """A Parquet file or folder; nanosecond timestamps (what pandas and pyarrow write by
    default) become Spark's microsecond timestamps instead of failing the read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nanos: set[str] = set()
    for f in files:
        if file_kind(f) == "parquet" or f.name.startswith("part-"):
            try:
                schema = pq.read_schema(f)
            except Exception:  # noqa: BLE001 - Spark reports the unreadable file itself
                continue
            nanos |= {fld.name for fld in schema
                      if pa.types.is_timestamp(fld.type) and fld.type.unit == "ns"}
            break  # the files of one table share a schema: the first one tells
    if not nanos:
        return spark.read.parquet(str(path))
    key = "spark.sql.legacy.parquet.nanosAsLong"
    before = spark.conf.get(key, "false")
    spark.conf.set(key, "true")  # Spark reads TIMESTAMP(NANOS) only as its raw long
    try:
        frame = spark.read.parquet(str(path))
    finally:
        spark.conf.set(key, before)
    # whole microseconds, exactly: integer division (``div``), not through a double
    # only the columns Spark handed over as raw longs: pyarrow also calls Spark's own INT96
    # timestamps nanoseconds, and Spark reads those as timestamps already
    raw = [c for c in nanos if c in frame.columns
           and isinstance(frame.schema[c].dataType, T.LongType)]
    return frame.withColumns({c: F.timestamp_micros(F.expr(f"`{c.replace('`', '``')}` div 1000"))
                              for c in raw})


def _read_csv(spark: SparkSession, path: str) -> DataFrame:
    # text cells, as in-process: ids like 007 keep their zeros, times are parsed by our rules
    return (spark.read.option("header", True).option("inferSchema", False)
            .option("multiLine", False).option("mode", "PERMISSIVE").option("escape", '"')
            .csv(path))


# --------------------------------------------------------------------------- checks


class _SparkChecks:
    """Problem classes of one Spark table: each a boolean column, counted in one pass."""

    def __init__(self, table: str, source: str):
        self.table, self.source = table, source
        self.flags: list[tuple[str, str, Column, list[str]]] = []
        self.notes: list[str] = []

    def add(self, column: str, message: str, flag: Column, cols: list[str]) -> None:
        self.flags.append((column, message, flag, cols))

    def problems(self, frame: DataFrame) -> list[Problem]:
        if not self.flags:
            return []
        sums = frame.agg(*[F.sum(F.when(f, 1).otherwise(0)).alias(f"p{i}")
                           for i, (_, _, f, _) in enumerate(self.flags)]).collect()[0]
        out = []
        for i, (column, message, flag, cols) in enumerate(self.flags):
            n = int(sums[f"p{i}"] or 0)
            if not n:
                continue
            rows = frame.filter(flag).select(*cols).limit(_MAX_EXAMPLES).collect()
            examples = [", ".join(f"{c}={shown(repr(r[c]))}" for c in cols) for r in rows]
            out.append(Problem(self.table, self.source, column, message, n, examples))
        return out


def _text(frame: DataFrame, col: str) -> Column:
    """An id, kind or value column as text without surrounding whitespace (nulls: '')."""
    dtype = frame.schema[col].dataType
    c = F.col(col)
    if isinstance(dtype, (T.FloatType, T.DoubleType)):  # 123.0 written as an id is '123'
        c = F.when(c == F.floor(c), c.cast("long").cast("string")).otherwise(c.cast("string"))
    else:
        c = c.cast("string")
    return F.regexp_replace(F.coalesce(c, F.lit("")), _PADDING, "")


def spark_time_pattern(time_format: str) -> str:
    """The Spark datetime pattern that reads what the strptime ``time_format`` reads.

    Literal text is quoted, runs of whitespace become one space (the caller squeezes the
    cells' whitespace likewise: strptime matches a space in the format with any run of
    whitespace). Raises ValueError naming a directive Spark cannot read as strptime does.

    Examples
    --------
    >>> spark_time_pattern("%d/%m/%Y %H:%M")
    "d'/'M'/'yyyy' 'H':'m"
    >>> spark_time_pattern("%Y%m%dT%H%M%S")
    "yyyyMMdd'T'HHmmss"
    """
    out, literal, i = [], [], 0
    tokens: list[tuple[str, str]] = []  # ("lit", text) or ("dir", letter)
    while i < len(time_format):
        ch = time_format[i]
        if ch == "%" and i + 1 < len(time_format):
            tokens.append(("dir", time_format[i + 1]))
            i += 2
        elif ch.isspace():
            j = i
            while j < len(time_format) and time_format[j].isspace():
                j += 1
            tokens.append(("lit", " "))
            i = j
        else:
            tokens.append(("lit", ch))
            i += 1
    for k, (what, text) in enumerate(tokens):
        if what == "lit" or text == "%":
            literal.append("%" if what == "dir" else text)
            continue
        if literal:
            out.append("'" + "".join(literal).replace("'", "''") + "'")
            literal = []
        if text in _NOT_ON_SPARK:
            raise ValueError(f"the Spark engine cannot read %{text} ({_NOT_ON_SPARK[text]}) "
                             f"in --time-format {time_format!r}; use the in-process engine "
                             f"or rewrite the times")
        if text not in _SPARK_DIRECTIVES:
            raise ValueError(f"--time-format {time_format!r}: %{text} is not a strptime "
                             f"directive the Spark engine reads")
        touching = any(0 <= j < len(tokens) and tokens[j][0] == "dir"
                       and tokens[j][1] in _NUMBER_DIRECTIVES for j in (k - 1, k + 1))
        out.append(_SPARK_DIRECTIVES[text][1 if touching and text in _NUMBER_DIRECTIVES else 0])
    if literal:
        out.append("'" + "".join(literal).replace("'", "''") + "'")
    return "".join(out)


# ISO 8601 as pandas reads it, where Spark's cast differs: minutes then a zone
# ("10:00Z", "10:00+02:00") and the basic form ("20250301T100000Z") are rewritten into the
# extended form with seconds; text with other letters (" UTC", which Spark takes and
# pandas refuses) is not cast
_ISO_MINUTES_ZONE = (r"^(\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2})(Z|[+-]\d{2}(?::?\d{2})?)$",
                     "$1:00$2")
_ISO_BASIC = (r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})((?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)$",
              "$1-$2-$3T$4:$5:$6$7")
_ISO_BASIC_MINUTES = (r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(Z|[+-]\d{2}:?\d{2})?$",
                      "$1-$2-$3T$4:$5:00$6")
_ISO_CHARACTERS = r"^[0-9T Z:.+-]+$"


def _iso_text(text: Column) -> Column:
    """``text`` in a form Spark's timestamp cast reads as pandas' ISO 8601 reads it (null
    where pandas would refuse what Spark takes)."""
    for pattern, replacement in (_ISO_MINUTES_ZONE, _ISO_BASIC, _ISO_BASIC_MINUTES):
        text = F.regexp_replace(text, pattern, replacement)
    return F.when(text.rlike(_ISO_CHARACTERS), text)


def _times(frame: DataFrame, col: str, checks: _SparkChecks, cols: list[str],
           time_format: str | None) -> Column:
    """One time column by the contract's rules (graph/timestamps.py) as a UTC timestamp;
    refused cells become problems. Numbers are Unix time in the unit their median
    magnitude says (one aggregation)."""
    dtype = frame.schema[col].dataType
    raw = F.col(col)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        t = raw.cast("timestamp")
        us = F.unix_micros(t)
        checks.add(col, OUTSIDE, t.isNotNull() & ((us < _WINDOW_US[0]) | (us >= _WINDOW_US[1])),
                   cols)
        return F.when((us >= _WINDOW_US[0]) & (us < _WINDOW_US[1]), t)
    numeric_type = isinstance(dtype, T.NumericType)
    text = F.regexp_replace(F.coalesce(raw.cast("string"), F.lit("")), _PADDING, "")
    is_num = raw.isNotNull() if numeric_type else text.rlike(_NUMBER)
    parsed = _iso_text(text).try_cast("timestamp")
    if time_format and not numeric_type:
        # as in-process: text cells the format reads are never Unix time (%Y%m%d); strptime
        # matches a space of the format with any run of whitespace
        squeezed = F.regexp_replace(text, r"(?U)\s+", " ")
        by_format = F.try_to_timestamp(squeezed, F.lit(spark_time_pattern(time_format)))
        is_num = is_num & by_format.isNull()
        parsed = F.coalesce(by_format, parsed)
    num = raw.cast("double") if numeric_type else F.when(is_num, text.cast("double"))
    unit_us = 1e6
    median = frame.select(F.percentile_approx(F.abs(num), 0.5).alias("m")).collect()[0]["m"]
    if median is not None:
        for name, _, per_second, below in _UNITS:
            if median < below:
                checks.notes.append(f"{checks.source}, column '{col}': numbers read as Unix "
                                    f"{name}")
                unit_us = 1e6 / per_second
                break
    from_num = F.timestamp_micros(F.round(num * F.lit(unit_us)).cast("long"))
    t = F.when(is_num, from_num).when(text != "", parsed)
    us = F.unix_micros(t)
    checks.add(col, UNPARSEABLE, (text != "") & ~is_num & parsed.isNull(), cols)
    inside = (us >= _WINDOW_US[0]) & (us < _WINDOW_US[1])
    checks.add(col, OUTSIDE, t.isNotNull() & ~inside, cols)
    return F.when(inside, t)


def _check_spark_table(frame: DataFrame, table: str, source: str, time_format: str | None,
                       accounts: DataFrame | None) -> tuple[DataFrame | None, list[Problem],
                                                            list[str], int]:
    """Validate ``identifiers`` or ``edges`` on Spark: (typed frame, problems, notes, rows)."""
    frame = frame.toDF(*[str(c).strip() for c in frame.columns])
    v = _Validator(table, source, False, time_format)
    if not v.columns(frame):  # only the column names are read
        return None, v.problems, v.notes, 0
    spec = TABLES[table]
    keep = [c for c in frame.columns if c in spec["required"] + spec["optional"]]
    checks = _SparkChecks(table, source)
    ids = _ID_COLUMNS[table]
    typed = {c: _text(frame, c) for c in ids}
    for c in ids:
        checks.add(c, "control or invisible characters (NUL, tab, line break, zero-width "
                   "space, BOM, bidi override...; shown escaped): remove them",
                   typed[c].rlike(INVISIBLE), list(ids))
        checks.add(c, "empty id", typed[c] == "", [c])
    typed["kind"] = _text(frame, "kind")
    checks.add("kind", "kind must be a lower-case token (letters, digits, _), e.g. 'device'",
               ~typed["kind"].rlike(f"^{_KIND_RE}$"), list(ids) + ["kind"])
    if table == "identifiers":
        typed["value"] = _text(frame, "value")
        checks.add("value", "control or invisible characters (NUL, tab, line break, "
                   "zero-width space, BOM, bidi override...; shown escaped): remove them",
                   typed["value"].rlike(INVISIBLE), ["account_id", "kind", "value"])
        checks.add("value", "empty identifier value", typed["value"] == "",
                   ["account_id", "kind", "value"])
    for c in ("weight", "amount"):
        if c not in keep:
            continue
        raw = F.col(c)
        if isinstance(frame.schema[c].dataType, T.NumericType):  # NaN is a missing number
            num = F.when(~F.isnan(raw.cast("double")), raw.cast("double"))
            given = num.isNotNull()
        else:
            text = F.regexp_replace(F.coalesce(raw.cast("string"), F.lit("")), _PADDING, "")
            num = text.try_cast("double")
            given = text != ""
        checks.add(c, "not a number", given & num.isNull(), ["src", "dst", c])
        if c == "weight":
            checks.add(c, "weight must be a positive finite number",
                       given & num.isNotNull() & ~((num > 0) & ~F.isnan(num)
                                                   & (num < float("inf"))), ["src", "dst", c])
            num = F.coalesce(num, F.lit(1.0))
        typed[c] = num
    for c in TIME_COLUMNS[table]:
        if c in keep:
            typed[c] = _times(frame, c, checks, list(ids) + [c], time_format)
    out = frame.select(*[typed.get(c, F.col(c)).alias(c) for c in keep])
    if table == "edges" and "weight" not in keep:
        out = out.withColumn("weight", F.lit(1.0))
    # the flags are expressions on the raw cells: the examples show what the file holds
    problems = checks.problems(frame)
    if accounts is not None:
        for c in ids:
            unknown = out.join(accounts, out[c] == accounts["account_id"], "left_anti") \
                .filter(F.col(c) != "")
            n = unknown.count()
            if n:
                cols = list(ids) + (["kind"] if "kind" in out.columns else [])
                rows = unknown.select(*cols).limit(_MAX_EXAMPLES).collect()
                problems.append(Problem(table, source, c, "references an account_id that is "
                                        "not in the accounts table", n,
                                        [", ".join(f"{k}={shown(repr(r[k]))}" for k in cols)
                                         for r in rows]))
    notes = v.notes + checks.notes
    if problems:
        return None, problems, notes, 0
    n_rows = out.count()
    out = out.dropDuplicates()
    n = out.count()
    if n < n_rows:
        notes.append(f"{source}: dropped {n_rows - n:,} exact duplicate "
                     f"row{'s' if n_rows - n != 1 else ''}")
    if table == "edges":
        loops = out.filter(F.col("src") == F.col("dst")).count()
        if loops:
            notes.append(f"{source}: dropped {loops:,} self-loop edge(s)")
            out = out.filter(F.col("src") != F.col("dst"))
            n -= loops
    return out, [], notes, n


def load_spark_tables(spark: SparkSession, accounts: Any, identifiers: Any = None,
                      edges: Any = None, enforcement: Any = None, link_decisions: Any = None,
                      *, time_format: str | None = None, decisions: Any = None) -> SparkTables:
    """Read and validate the input tables for the Spark engine.

    Parameters
    ----------
    spark
        The session (:func:`ringfence.graph.spark.spark_session`).
    accounts, identifiers, edges, enforcement, link_decisions, decisions
        As :func:`ringfence.load_tables`, and also folders (partitioned Parquet, as
        Spark writes it, or CSV parts) and Spark DataFrames.
    time_format
        As :func:`ringfence.load_tables`.

    Returns
    -------
    SparkTables
        ``identifiers`` and ``edges`` validated on Spark (in ``frames``), the
        other tables on the driver.

    Raises
    ------
    InputError
        Every problem class of every table, with file, column, count and up to
        five example rows (Spark tables show the row's cells, not a line number).

    Notes
    -----
    Cost: one aggregation per Spark table for the checks, one anti-join per id
    column for the references, one pass to drop exact duplicates.
    """
    if time_format is not None:
        try:
            check_time_format(time_format)
            spark_time_pattern(time_format)
        except ValueError as e:  # an option, not a table: no row to show
            raise InputError([Problem("options", "--time-format (time_format=)", None,
                                      str(e))]) from None
    problems: list[Problem] = []
    driver: dict[str, Any] = {}
    labels: dict[str, str] = {}
    given = {"accounts": accounts, "enforcement": enforcement, "decisions": decisions,
             "link_decisions": link_decisions}

    def read(name: str, src: Any) -> DataFrame | None:
        try:
            frame, labels[name], _ = read_frame(spark, src, name)
        except InputError as e:
            problems.extend(e.problems)
            return None
        return frame

    for name, src in given.items():
        if src is None:
            continue
        is_file = not isinstance(src, (pd.DataFrame, DataFrame)) and Path(os.fspath(src)).is_file()
        if is_file or isinstance(src, pd.DataFrame):
            driver[name] = src  # read and labelled exactly as in-process
        elif (frame := read(name, src)) is not None:
            driver[name] = frame.toPandas()
    tables: Tables | None = None
    if "accounts" in driver:
        try:
            tables = load_tables(**driver, time_format=time_format)
        except InputError as e:
            problems.extend(_relabel(p, labels) for p in e.problems)
    account_ids = None
    if tables is not None:
        account_ids = spark.createDataFrame(
            pd.DataFrame({"account_id": tables.accounts["account_id"].astype(str)}))
    frames, counts, notes = {}, {}, []
    for name, src in (("identifiers", identifiers), ("edges", edges)):
        if src is None or (frame := read(name, src)) is None:
            continue
        out, found, table_notes, n = _check_spark_table(frame, name, labels[name], time_format,
                                                        account_ids)
        problems.extend(found)
        notes.extend(table_notes)
        if out is not None:
            frames[name], counts[name] = out, n
    if problems or tables is None:
        raise InputError(problems or [Problem("accounts", "--accounts", None,
                                              "the 'accounts' table is required")])
    sources = {**tables.sources, **labels}
    out = SparkTables(accounts=tables.accounts, enforcement=tables.enforcement,
                      link_decisions=tables.link_decisions, decisions=tables.decisions,
                      sources=sources, notes=list(tables.notes) + notes,
                      time_format=time_format, warnings=list(tables.warnings),
                      frames=frames, counts=counts)
    out._encoded.update(tables._encoded)
    return out


def _relabel(p: Problem, labels: dict[str, str]) -> Problem:
    """A problem the in-process contract found in a table Spark read: named by its path."""
    if p.table not in labels or p.source != f"{p.table} (DataFrame)":
        return p
    return Problem(p.table, labels[p.table], p.column, p.message, p.n_rows, p.examples)

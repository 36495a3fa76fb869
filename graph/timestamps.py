"""The one timestamp parser of the input contract, and the default as-of time.

Every time column of every table, ``--as-of``, ``backtest --cutoff`` and
``build_graph(as_of=...)`` are read by the same rules:

* **numbers** (numeric columns, or text cells that are digits with an optional
  sign and decimal point) are Unix time. The unit is chosen once per column
  from the median magnitude: below 1e11 seconds, below 1e14 milliseconds,
  below 1e17 microseconds, else nanoseconds. Columns of 8-digit numbers that
  all read as dates ``YYYYMMDD`` are refused as ambiguous.
* **text** is ISO 8601 with or without a zone (no zone = UTC; a space may
  stand for ``T``). Anything else (``03/01/2025``, ``Jan 3 2025``) is refused
  unless a format is given (``time_format``, ``--time-format %d/%m/%Y``);
  with a format, text cells are read with it first, then as ISO 8601.
* every time must lie in :data:`WINDOW`, 1970-01-01 (inclusive) to
  2100-01-01 (exclusive); anything outside, including what pandas cannot hold
  (before 1677 or after 2262), is refused.

The default as-of time is the newest timestamp, unless a few of the newest
stand apart from the rest (see :func:`newest_time`).

Examples
--------
>>> import pandas as pd
>>> p = parse_times(pd.Series([1772323200000, None]))
>>> p.unit, p.times[0].isoformat(), bool(p.times.isna()[1])
('milliseconds', '2026-03-01T00:00:00+00:00', True)
>>> parse_time("2026-03-01 12:00").isoformat()
'2026-03-01T12:00:00+00:00'
>>> parse_time("03/01/2025")
Traceback (most recent call last):
...
ringfence.graph.timestamps.TimeError: not a date or time: '03/01/2025' (use ISO 8601, ...
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["WINDOW", "TimeError", "ParsedTimes", "parse_times", "parse_time", "newest_time",
           "check_time_format",
           "newest_needed", "as_of_from_newest", "as_nanoseconds",
           "UNPARSEABLE", "OUTSIDE", "AMBIGUOUS_NUMBERS"]

WINDOW = (pd.Timestamp("1970-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
_WINDOW_S = (0.0, float(WINDOW[1].value // 10**9))

# (name, pandas unit, per second, the median magnitude below which the unit applies)
_UNITS = (("seconds", "s", 1, 1e11), ("milliseconds", "ms", 10**3, 1e14),
          ("microseconds", "us", 10**6, 1e17), ("nanoseconds", "ns", 10**9, math.inf))

UNPARSEABLE = ("unparseable timestamp: use ISO 8601 (2026-03-01 or 2026-03-01T12:00:00Z) or "
               "Unix time, or give the format with --time-format (time_format=)")
OUTSIDE = ("timestamp outside 1970-01-01 .. 2100-01-01 (a typo, or a placeholder such as "
           "9999-12-31?)")
AMBIGUOUS_NUMBERS = ("8-digit numbers that read as dates YYYYMMDD (as Unix seconds they would "
                     "all fall in 1970): give --time-format %Y%m%d, or write ISO 8601")
_DAY_MONTH = ("; day/month order is ambiguous: give --time-format %d/%m/%Y or "
              "--time-format %m/%d/%Y")

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_ISO_YEAR = re.compile(r"\s*([+-]?\d{4,})-\d")
_SLASHED = re.compile(r"\s*\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")
_GAP = pd.Timedelta(days=30)


class TimeError(ValueError):
    """One time value (``--as-of``, ``--cutoff``, ``as_of=``) that cannot be read."""


@dataclass
class ParsedTimes:
    """A parsed time column.

    ``times`` is ``datetime64[ns, UTC]`` (NaT where missing or refused);
    ``unit`` names the Unix time unit assumed for its numbers (None when it
    has none); the masks mark refused cells: ``unparseable`` (not a time in
    any accepted form), ``outside`` (outside :data:`WINDOW`), ``ambiguous``
    (numbers that read as dates ``YYYYMMDD``).
    """

    times: pd.Series
    unit: str | None
    unparseable: np.ndarray
    outside: np.ndarray
    ambiguous: np.ndarray

    def problems(self, values: pd.Series) -> list[tuple[str, np.ndarray]]:
        """``(message, mask)`` for each class of refused cells; ``values`` are the raw cells."""
        out = []
        if self.unparseable.any():
            raw = values[self.unparseable].astype(str)
            hint = _DAY_MONTH if raw.str.match(_SLASHED).any() else ""
            out.append((UNPARSEABLE + hint, self.unparseable))
        if self.outside.any():
            out.append((OUTSIDE, self.outside))
        if self.ambiguous.any():
            out.append((AMBIGUOUS_NUMBERS, self.ambiguous))
        return out


def check_time_format(time_format: str) -> None:
    """Raise :class:`TimeError` with a one-line message if ``time_format`` is not a format
    pandas' strptime reads (an unknown directive such as ``%Q``, a lone ``%``).

    Examples
    --------
    >>> check_time_format("%d/%m/%Y")
    >>> check_time_format("%d/%Q")
    Traceback (most recent call last):
    ...
    ringfence.graph.timestamps.TimeError: --time-format '%d/%Q' is not a strptime format: ...
    """
    if not isinstance(time_format, str) or not time_format.strip():
        raise TimeError(f"--time-format must be a strptime format such as %d/%m/%Y, "
                        f"got {time_format!r}")
    try:  # pandas compiles the format before reading any cell
        pd.to_datetime(pd.Series(["1970-01-01"]), format=time_format, errors="coerce")
    except ValueError as e:
        raise TimeError(f"--time-format {time_format!r} is not a strptime format: {e} "
                        f"(directives such as %Y %m %d %H %M %S %f %z %b %p)") from None


def _unit_for(magnitude: float) -> tuple[str, str, int]:
    for name, code, per_second, below in _UNITS:
        if magnitude < below:
            return name, code, per_second
    raise AssertionError("unreachable: the last unit has no bound")


def _yyyymmdd(x: np.ndarray) -> bool:
    """Whether every number is an 8-digit date YYYYMMDD (between 1970 and 2099)."""
    if not len(x) or not np.all((x >= 19700101) & (x <= 20991231) & (x == np.round(x))):
        return False
    return bool(pd.to_datetime(pd.Series(x.astype(np.int64).astype(str)), format="%Y%m%d",
                               errors="coerce").notna().all())


def _from_unix(x: pd.Series) -> tuple[pd.Series, str, np.ndarray, np.ndarray]:
    """Unix times (no missing values) -> (UTC times, unit name, outside, ambiguous)."""
    arr = x.to_numpy(dtype=np.float64)
    finite = np.isfinite(arr)
    if _yyyymmdd(arr):
        nat = pd.Series(pd.NaT, index=x.index, dtype="datetime64[ns, UTC]")
        return nat, "seconds", np.zeros(len(x), bool), np.ones(len(x), bool)
    name, code, per_second = _unit_for(float(np.median(np.abs(arr[finite]))) if finite.any()
                                       else 0.0)
    secs = arr / per_second
    outside = ~finite | (secs < _WINDOW_S[0]) | (secs >= _WINDOW_S[1])
    # in the window every unit converts without overflow; integers stay exact
    inside = x[~outside]
    times = pd.to_datetime(inside, unit=code, utc=True).astype("datetime64[ns, UTC]")
    out = pd.Series(pd.NaT, index=x.index, dtype="datetime64[ns, UTC]")
    out[~outside] = times
    return out, name, outside, np.zeros(len(x), bool)


def _in_window(times: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC nanosecond times with cells outside :data:`WINDOW` set to NaT, and their mask."""
    outside = (times.notna() & ((times < WINDOW[0]) | (times >= WINDOW[1]))).to_numpy()
    if outside.any():
        times = times.where(~outside)
    return times.astype("datetime64[ns, UTC]"), outside


def _iso_by_arrow(s: pd.Series) -> pd.Series | None:
    """ISO 8601 text read by Arrow's parser when every cell has a zone, or none has
    (then UTC); ``None`` for anything else, which pandas reads. pandas' ISO 8601
    reader was an eighth of loading a 1,000,000-account platform's gzip CSV files
    once they were read by Arrow (8.5 million ``seen_at``)."""
    if not len(s):
        return None
    arr = pa.array(s.array)
    for kind in (pa.timestamp("ns", "UTC"), pa.timestamp("ns")):
        try:
            ns = pc.cast(arr, kind).to_numpy(zero_copy_only=False).astype("M8[ns]")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return pd.Series(pd.DatetimeIndex(ns).tz_localize("UTC"), index=s.index)
    return None


def _read(s: pd.Series, time_format: str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Text read with one format -> (UTC times in the window, read, outside)."""
    raw = _iso_by_arrow(s) if time_format == "ISO8601" else None
    if raw is None:
        raw = pd.to_datetime(s, format=time_format, utc=True, errors="coerce")
    times, outside = _in_window(raw)
    return times, np.array(raw.notna(), dtype=bool), np.array(outside, dtype=bool)


def _from_text(s: pd.Series, time_format: str | None) -> tuple[pd.Series, np.ndarray,
                                                             np.ndarray]:
    """ISO 8601 (or ``time_format``) text without empty cells -> (times, unparseable, outside)."""
    times = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    read, outside = np.zeros(len(s), bool), np.zeros(len(s), bool)
    if time_format:
        times, read, outside = _read(s, time_format)
    todo = ~read
    if todo.any():
        times[todo], read[todo], outside[todo] = _read(s[todo], "ISO8601")
    # ISO-shaped text that failed only because its year is beyond what pandas holds
    year = s[~read].str.extract(_ISO_YEAR, expand=False).astype("float64")
    beyond = np.zeros(len(s), bool)
    beyond[~read] = ((year < WINDOW[0].year) | (year >= WINDOW[1].year)).to_numpy()
    return times, ~read & ~beyond, outside | beyond


def _numbers(s: pd.Series) -> pd.Series:
    """Numeric text as int64 (exact) when it can be, else float64; Arrow's casts are fast."""
    arr = pa.array(s.array)
    for kind in (pa.int64(), pa.float64()):
        try:
            return pd.Series(pc.cast(arr, kind).to_numpy(zero_copy_only=False), index=s.index)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pd.to_numeric(s.astype(object))  # forms Arrow does not cast, such as "+5." or "1."


def parse_times(col: pd.Series, time_format: str | None = None) -> ParsedTimes:
    """Parse one time column by the contract's rules (see the module's docstring).

    Parameters
    ----------
    col
        Raw cells: text, numbers or datetimes. Empty text and missing values are
        missing times.
    time_format
        A :func:`~datetime.datetime.strptime` format for text cells that are not
        ISO 8601, e.g. ``"%d/%m/%Y"``.

    Returns
    -------
    ParsedTimes

    Examples
    --------
    >>> p = parse_times(pd.Series(["2026-01-02", "02/01/2026", "", "2300-01-01"]))
    >>> p.times.dt.strftime("%Y-%m-%d").tolist()
    ['2026-01-02', nan, nan, nan]
    >>> p.unparseable.tolist(), p.outside.tolist()
    ([False, True, False, False], [False, False, False, True])
    >>> parse_times(pd.Series(["02/01/2026"]), "%d/%m/%Y").times[0].isoformat()
    '2026-01-02T00:00:00+00:00'
    """
    n = len(col)
    none = np.zeros(n, bool)
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col):
        times = col.dt.tz_convert("UTC") if isinstance(col.dtype, pd.DatetimeTZDtype) \
            else col.dt.tz_localize("UTC")
        times, outside = _in_window(times)
        return ParsedTimes(times, None, none, outside, none.copy())
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        given = col.notna().to_numpy()
        times = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
        outside, ambiguous = none.copy(), none.copy()
        unit = None
        if given.any():
            t, unit, o, a = _from_unix(col[given])
            times[given], outside[given], ambiguous[given] = t, o, a
        return ParsedTimes(times, unit, none, outside, ambiguous)
    # Arrow strings: the regular expressions below run in Arrow's kernels, not row by row
    s = col.astype("string[pyarrow]").fillna("").str.strip()
    empty = (s == "").to_numpy(dtype=bool)
    times = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
    unparseable, outside, ambiguous = none.copy(), none.copy(), none.copy()
    text = ~empty
    if time_format and text.any():
        # cells the format reads are never taken as Unix time (a format such as %Y%m%d)
        fmt = pd.to_datetime(s[text], format=time_format, utc=True, errors="coerce")
        text[text] = fmt.isna().to_numpy()
    numeric = text & s.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    unit = None
    if numeric.any():
        t, unit, o, a = _from_unix(_numbers(s[numeric]))
        times[numeric], outside[numeric], ambiguous[numeric] = t, o, a
    rest = ~empty & ~numeric
    if rest.any():
        t, u, o = _from_text(s[rest], time_format)
        times[rest], unparseable[rest], outside[rest] = t, u, o
    return ParsedTimes(times, unit, unparseable, outside, ambiguous)


def parse_time(value: Any, time_format: str | None = None) -> pd.Timestamp:
    """Parse one time (``--as-of``, ``--cutoff``, ``as_of=``) by the contract's rules.

    Numbers and digit strings are Unix time (unit by magnitude as for a
    column); text is ISO 8601, or read with ``time_format``. Raises
    :class:`TimeError` with a one-line message otherwise.

    Examples
    --------
    >>> parse_time(1772323200).isoformat(), parse_time("1772323200000").isoformat()
    ('2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')
    >>> parse_time("3000-01-01")
    Traceback (most recent call last):
    ...
    ringfence.graph.timestamps.TimeError: '3000-01-01' is outside 1970-01-01 .. 2100-01-01
    """
    if time_format is not None:
        check_time_format(time_format)
    if isinstance(value, (dt.date, np.datetime64)):  # datetimes and Timestamps are dates too
        col = pd.Series([value], dtype=object)
        if not isinstance(value, dt.datetime) and isinstance(value, dt.date):
            col = col.astype(str)  # a date: its ISO text
        else:
            try:
                col = pd.Series(pd.to_datetime([value], utc=True))
            except (ValueError, OverflowError):
                raise TimeError(f"{value!r} is outside 1970-01-01 .. 2100-01-01") from None
    elif isinstance(value, Real) and not isinstance(value, bool):
        exact = isinstance(value, Integral) and abs(value) < 2**63
        col = pd.Series([value], dtype="int64") if exact else pd.Series([float(value)])
    elif isinstance(value, str) and value.strip():
        col = pd.Series([value], dtype=object)
    else:
        raise TimeError(f"not a date or time: {value!r}")
    p = parse_times(col, time_format)
    if p.unparseable[0]:
        raise TimeError(f"not a date or time: {value!r} (use ISO 8601, e.g. 2026-03-01 or "
                        "2026-03-01T12:00:00Z, or Unix seconds or milliseconds)")
    if p.outside[0]:
        raise TimeError(f"{value!r} is outside 1970-01-01 .. 2100-01-01")
    if p.ambiguous[0]:
        raise TimeError(f"{value!r} is ambiguous (a date YYYYMMDD, or Unix seconds in 1970): "
                        "write it in ISO 8601, e.g. 2026-01-01")
    return p.times.iloc[0]


def as_nanoseconds(times: pd.Series) -> np.ndarray:
    """The non-missing times as UTC nanoseconds since the epoch, whatever the Series' unit.

    >>> as_nanoseconds(pd.Series([pd.Timestamp("1970-01-01 00:00:01", tz="UTC"), None]))
    array([1000000000])
    """
    t = pd.DatetimeIndex(times.dropna())
    return (t.tz_convert("UTC") if t.tz is not None else t).as_unit("ns").asi8


def newest_time(columns: Mapping[str, pd.Series]) -> tuple[pd.Timestamp | None, str | None]:
    """The default as-of time: the newest timestamp, unless a few newest stand apart.

    When the newest ``j`` timestamps, with ``j`` at most ``max(10, 0.01 %)`` and
    at most 1 % of all timestamps, lie more than 30 days after the next-newest
    (the largest such ``j``), they are ignored: the as-of time is the
    next-newest and the note returned says how many were ignored, where, and
    an example. Otherwise the note is None.

    Parameters
    ----------
    columns
        Time columns (``datetime64[ns, UTC]``) by the label the note uses,
        e.g. ``"accounts.csv, column 'created_at'"``.

    Examples
    --------
    >>> days = pd.Series(pd.date_range("2026-01-01", periods=200, freq="D", tz="UTC"))
    >>> newest_time({"a": days})[0].date()
    datetime.date(2026, 7, 19)
    >>> far = pd.Series([pd.Timestamp("2099-01-01", tz="UTC")])
    >>> as_of, note = newest_time({"a": days, "b": far})
    >>> as_of.date()
    datetime.date(2026, 7, 19)
    >>> print(note)  # doctest: +NORMALIZE_WHITESPACE
    1 timestamp more than 30 days after all the others ignored when choosing the as-of time
    (b: 1, e.g. 2099-01-01T00:00:00+00:00); as-of time 2026-07-19T00:00:00+00:00; give
    --as-of to choose it yourself
    """
    ns = {label: as_nanoseconds(t) for label, t in columns.items()}
    return as_of_from_newest(sum(len(v) for v in ns.values()), ns)


def newest_needed(n: int) -> int:
    """How many of the newest of ``n`` timestamps :func:`as_of_from_newest` reads.

    >>> newest_needed(1_000_000)
    101
    """
    return min(max(10, math.ceil(1e-4 * n)), n // 100) + 1


def as_of_from_newest(n: int, newest: Mapping[str, np.ndarray]) -> tuple[pd.Timestamp | None,
                                                                       str | None]:
    """The rule of :func:`newest_time` from ``n``, the count of all timestamps, and, per
    label, at least the :func:`newest_needed` newest of them (nanoseconds since the epoch,
    any order): what an engine that cannot hold every timestamp collects.

    >>> day = 86_400 * 10**9
    >>> as_of, note = as_of_from_newest(2_000, {"a": np.arange(30) * day,
    ...                                         "b": np.array([400 * day])})
    >>> as_of.date(), note.split(" (")[0]
    (datetime.date(1970, 1, 30), '1 timestamp more than 30 days after all the others ignored when choosing the as-of time')
    """
    values = np.concatenate(list(newest.values())) if newest else np.empty(0, np.int64)
    if not n or not len(values):
        return None, None
    cap = newest_needed(n) - 1
    newest_t = pd.Timestamp(int(values.max()), tz="UTC")
    if cap < 1:
        return newest_t, None
    k = len(values) - cap - 1
    top = np.sort(np.partition(values, k)[k:])[::-1]
    apart = np.flatnonzero(top[:-1] - top[1:] > _GAP.value)
    if not len(apart):
        return newest_t, None
    as_of_ns = int(top[apart.max() + 1])
    where = []
    for label, v in newest.items():
        later = v[v > as_of_ns]
        if len(later):
            example = pd.Timestamp(int(later.max()), tz="UTC").isoformat()
            where.append(f"{label}: {len(later):,}, e.g. {example}")
    j = int(apart.max() + 1)
    as_of = pd.Timestamp(as_of_ns, tz="UTC")
    note = (f"{j:,} timestamp{'s' if j != 1 else ''} more than 30 days after all the others "
            f"ignored when choosing the as-of time ({'; '.join(where)}); as-of time "
            f"{as_of.isoformat()}; give --as-of to choose it yourself")
    return as_of, note

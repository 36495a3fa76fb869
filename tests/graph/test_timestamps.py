"""graph/timestamps.py: the one timestamp parser of the input contract, and the as-of time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.tables import InputError, load_tables
from ringfence.graph.timestamps import (AMBIGUOUS_NUMBERS, OUTSIDE, UNPARSEABLE, TimeError,
                                        newest_time, parse_time, parse_times)

T = pd.Timestamp("2026-03-01T00:00:00Z")
SECONDS = 1772323200  # T in Unix seconds


def iso(p) -> list:
    return [None if pd.isna(t) else t.isoformat() for t in p.times]


@pytest.mark.parametrize("scale, unit", [(1, "seconds"), (10**3, "milliseconds"),
                                         (10**6, "microseconds"), (10**9, "nanoseconds")])
@pytest.mark.parametrize("as_text", [False, True])
def test_unix_unit_is_detected_per_column_by_magnitude(scale, unit, as_text):
    values = [SECONDS * scale, (SECONDS + 86400) * scale, None]
    col = pd.Series([str(v) if v is not None else "" for v in values]) if as_text \
        else pd.Series(values, dtype="Int64").astype("float64" if scale < 10**9 else "Int64")
    p = parse_times(col)
    assert p.unit == unit
    assert iso(p) == [T.isoformat(), (T + pd.Timedelta(days=1)).isoformat(), None]
    assert not (p.unparseable.any() or p.outside.any() or p.ambiguous.any())


def test_one_unit_for_the_whole_column():
    # the median decides: a stray small number is seconds of 1970, not milliseconds
    p = parse_times(pd.Series([SECONDS * 1000, SECONDS * 1000, 5_000]))
    assert p.unit == "milliseconds"
    assert iso(p)[2] == "1970-01-01T00:00:05+00:00"


def test_milliseconds_stay_exact():
    p = parse_times(pd.Series(["1772323200123"]))
    assert p.times[0] == T + pd.Timedelta(milliseconds=123)


def test_iso_with_and_without_zone_in_one_column():
    p = parse_times(pd.Series(["2026-03-01", "2026-03-01T01:00:00+01:00", "2026-03-01 00:00",
                               "2026-03-01T00:00:00Z", "2026-03-01T00:00:00.000", " 2026-03-01 ",
                               str(SECONDS)]))
    assert set(iso(p)) == {T.isoformat()}
    assert p.unit == "seconds"


@pytest.mark.parametrize("text", ["03/01/2025", "13/01/2025", "Jan 3 2025", "3 January 2025",
                                  "yesterday", "2025-13-45", "nan", "1e9"])
def test_other_text_is_refused(text):
    p = parse_times(pd.Series(["2025-01-01", text]))
    assert p.unparseable.tolist() == [False, True]
    assert pd.isna(p.times[1])


def test_day_month_text_is_refused_with_a_format_hint():
    values = pd.Series(["03/01/2025", "13/01/2025"])
    [(message, mask)] = parse_times(values).problems(values)
    assert message.startswith(UNPARSEABLE)
    assert "--time-format %d/%m/%Y or --time-format %m/%d/%Y" in message
    assert mask.tolist() == [True, True]


@pytest.mark.parametrize("fmt, expect", [("%d/%m/%Y", ["2025-01-03", "2025-01-13"]),
                                         ("%m/%d/%Y", ["2025-03-01", None])])
def test_a_given_format_is_used_for_every_row(fmt, expect):
    p = parse_times(pd.Series(["03/01/2025", "13/01/2025", "2025-06-01", "1772323200"]), fmt)
    got = [None if t is None else t[:10] for t in iso(p)]
    assert got == expect + ["2025-06-01", "2026-03-01"]
    assert p.unparseable.tolist() == [False, expect[1] is None, False, False]


def test_a_format_that_reads_digits_wins_over_unix_time():
    p = parse_times(pd.Series(["20250301"]), "%Y%m%d")
    assert iso(p) == ["2025-03-01T00:00:00+00:00"] and p.unit is None


def test_dates_written_as_yyyymmdd_numbers_are_ambiguous():
    values = pd.Series([20250301, 20250302])
    p = parse_times(values)
    assert p.ambiguous.all() and p.times.isna().all()
    assert [m for m, _ in p.problems(values)] == [AMBIGUOUS_NUMBERS]


@pytest.mark.parametrize("col", [
    pd.Series(["2262-04-12", "2300-01-01", "1600-01-01", "9999-12-31", "1969-12-31T23:59:59Z",
               "2100-01-01", "+12345-01-01"]),
    # each alone: the unit is chosen by the column's median
    *[pd.Series([x]) for x in (-1, 4102444800, 4102444800.0, 10**20, 1e300, np.inf, -np.inf)],
    *[pd.Series([x]) for x in ("-1", "4102444800", "99999999999999999999999")],
    pd.Series(pd.to_datetime(["1960-01-01", "2100-01-01"]).as_unit("s")),
    pd.Series(pd.to_datetime(["3000-01-01"]).as_unit("us").tz_localize("UTC")),
])
def test_outside_the_window_is_refused(col):
    p = parse_times(col)
    assert p.outside.all(), iso(p)
    assert not p.unparseable.any()
    assert [m for m, _ in p.problems(col)] == [OUTSIDE]


def test_window_edges():
    p = parse_times(pd.Series(["1970-01-01T00:00:00Z", "2099-12-31T23:59:59Z"]))
    assert not p.outside.any() and p.times.notna().all()


@pytest.mark.parametrize("col", [pd.Series(["", "", " "]), pd.Series([np.nan, np.nan]),
                                 pd.Series([None, None], dtype=object),
                                 pd.Series([pd.NaT, pd.NaT])])
def test_missing_values_are_allowed(col):
    p = parse_times(col)
    assert p.times.isna().all() and str(p.times.dtype) == "datetime64[ns, UTC]"
    assert not (p.unparseable.any() or p.outside.any() or p.ambiguous.any())


def test_datetime_columns_are_converted_to_utc():
    naive = pd.Series(pd.to_datetime(["2026-03-01"]))
    zoned = pd.Series(pd.to_datetime(["2026-03-01T01:00"]).tz_localize("Europe/Berlin"))
    assert iso(parse_times(naive)) == iso(parse_times(zoned)) == [T.isoformat()]


@pytest.mark.parametrize("value", ["2026-03-01", "2026-03-01T01:00:00+01:00", SECONDS,
                                   str(SECONDS), SECONDS * 1000, str(SECONDS * 1000),
                                   float(SECONDS), pd.Timestamp("2026-03-01"),
                                   dt.date(2026, 3, 1), dt.datetime(2026, 3, 1),
                                   np.datetime64("2026-03-01")])
def test_one_time(value):
    assert parse_time(value) == T


@pytest.mark.parametrize("value, message", [
    ("03/01/2025", "not a date or time: '03/01/2025' (use ISO 8601"),
    ("", "not a date or time: ''"),
    (True, "not a date or time: True"),
    (None, "not a date or time: None"),
    ("3000-01-01", "'3000-01-01' is outside 1970-01-01 .. 2100-01-01"),
    (10**30, "is outside 1970-01-01 .. 2100-01-01"),
    ("-5", "'-5' is outside"),
    (dt.datetime(3000, 1, 1), "is outside 1970-01-01 .. 2100-01-01"),
    (20260101, "20260101 is ambiguous (a date YYYYMMDD, or Unix seconds in 1970)"),
])
def test_one_time_refused(value, message):
    with pytest.raises(TimeError) as e:
        parse_time(value)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_one_time_with_a_format():
    assert parse_time("01/03/2026", "%d/%m/%Y") == T


# --------------------------------------------------------------------------- the as-of time


def _days(n: int, start: str = "2025-01-01") -> pd.Series:
    return pd.Series(pd.date_range(start, periods=n, freq="6h", tz="UTC"))


def test_newest_time_is_the_newest_for_ordinary_data():
    days = _days(2000)
    assert newest_time({"a": days}) == (days.max(), None)
    # a small table has no outliers: its newest time stands even far apart
    small = pd.Series(pd.to_datetime(["2025-01-01", "2025-06-01", "2200-01-01"], utc=True))
    assert newest_time({"a": small}) == (small.max(), None)
    assert newest_time({}) == (None, None)
    assert newest_time({"a": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]")}) == (None, None)


def test_a_few_far_future_timestamps_do_not_move_the_as_of_time():
    days = _days(2000)
    far = pd.Series(pd.to_datetime(["2099-01-01", "2040-01-01", "2099-06-01"], utc=True))
    as_of, note = newest_time({"accounts.csv, column 'created_at'": far, "edges": days})
    assert as_of == days.max()
    assert note == ("3 timestamps more than 30 days after all the others ignored when choosing "
                    "the as-of time (accounts.csv, column 'created_at': 3, e.g. "
                    "2099-06-01T00:00:00+00:00); as-of time "
                    f"{days.max().isoformat()}; give --as-of to choose it yourself")


def test_many_far_timestamps_are_data_not_outliers():
    days = _days(2000)
    far = pd.Series(pd.to_datetime(["2099-01-01"] * 21, utc=True))  # more than 1 % of rows
    assert newest_time({"a": days, "b": far}) == (far.max(), None)


def test_tables_note_ignored_timestamps_once(tmp_path):
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(500)],
                             "created_at": list(_days(499).astype(str)) + ["2090-01-01"]})
    t = load_tables(accounts)
    assert t.newest_timestamp() == _days(499).max()
    t.newest_timestamp()
    [note] = [n for n in t.notes if "as-of" in n]
    assert note.startswith("1 timestamp more than 30 days after all the others ignored")
    assert "accounts (DataFrame), column 'created_at': 1, e.g. 2090-01-01" in note


def test_loader_notes_the_unix_unit_and_refuses_bad_times(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("account_id,created_at\na1,1772323200000\na2,\n")
    t = load_tables(path)
    assert f"{path}, column 'created_at': numbers read as Unix milliseconds" in t.notes
    assert t.accounts["created_at"][0] == T
    path.write_text("account_id,created_at\na1,03/01/2025\na2,2300-01-01\na3,2025-01-01\n")
    with pytest.raises(InputError) as e:
        load_tables(path)
    text = str(e.value)
    assert "column 'created_at': unparseable timestamp" in text and "(1 row)" in text
    assert "line 2: account_id='a1', created_at='03/01/2025'" in text
    assert "column 'created_at': timestamp outside 1970-01-01 .. 2100-01-01" in text
    assert "line 3: account_id='a2', created_at='2300-01-01'" in text
    path.write_text("account_id,created_at\na1,03/01/2025\na2,13/01/2025\n")
    t = load_tables(path, time_format="%d/%m/%Y")
    assert t.accounts["created_at"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-03",
                                                                         "2025-01-13"]
    assert t.time_format == "%d/%m/%Y"


def test_a_given_format_refuses_times_outside_the_window():
    p = parse_times(pd.Series(["01/01/3000", "01/01/2025", "2025-01-02"]), "%d/%m/%Y")
    assert p.outside.tolist() == [True, False, False]
    assert iso(p)[1:] == ["2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00"]


ISO_SHAPES = ["2024-06-30T00:43:50Z", "2024-06-30 00:43:50", "2024-06-30", "2024-06-30T00:43Z",
              "2024-06-30T00:43:50+02:00", "2024-06-30T00:43:50+0200", "2024-06-30T00",
              "2024-06-30T00:43:50.123456789Z", "2024-06-30T00:43:50.1234567891Z",
              "2024-06-30T00:43:50.5", "2024-06-30T00:43:50-00:00", "2024-06-30t00:43:50z",
              "20240630T004350Z", "2024-6-3", "2024-06", "2024", "2024-02-30T00:00:00Z",
              "2016-12-31T23:59:60Z", "1960-01-01T00:00:00Z", "2300-01-01T00:00:00Z",
              "1600-01-01", "2024-06-30T00:43:50+25:00", "2024-06-30T00:43:50 Z"]


@pytest.mark.parametrize("pair", [(a, b) for a in ISO_SHAPES for b in ISO_SHAPES[:6]])
def test_iso_text_read_by_arrow_reads_as_pandas_reads_it(pair):
    from ringfence.graph.timestamps import _iso_by_arrow
    s = pd.Series(list(pair), dtype="string[pyarrow]")
    fast = _iso_by_arrow(s)
    if fast is not None:  # else pandas reads the column, as before
        slow = pd.to_datetime(s, format="ISO8601", utc=True).astype("datetime64[ns, UTC]")
        pd.testing.assert_series_equal(fast, slow)


def test_iso_text_with_and_without_zone_is_read_by_both_rules():
    p = parse_times(pd.Series(["2024-06-30T00:00:00+02:00", "2024-06-30 00:00"]))
    assert p.times.dt.strftime("%d %H").tolist() == ["29 22", "30 00"]

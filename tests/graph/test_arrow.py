"""The hashing helpers behind the input checks agree with pandas, collisions included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ringfence.graph._arrow as arrow_helpers
from ringfence.graph._arrow import codes, duplicated_rows, positions


def _random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    df = pd.DataFrame({"a": pd.array(rng.choice(["x", "y", "z", None], n), dtype="str"),
                       "b": rng.integers(0, 3, n), "c": rng.choice([0.5, np.nan, 1.0], n),
                       "t": pd.to_datetime(rng.choice([0, 1, 2], n), unit="s", utc=True)})
    df.loc[df.index[: n // 5], "t"] = pd.NaT
    return df


@pytest.mark.parametrize("collide", [False, True])
def test_duplicated_rows_matches_pandas(monkeypatch, collide):
    if collide:  # every row gets the same hash: the exact comparison alone must decide
        monkeypatch.setattr(arrow_helpers, "_row_hashes",
                            lambda cols: np.zeros(len(cols[0]), np.uint64))
    rng = np.random.default_rng(1)
    for _ in range(150):
        df = _random_frame(rng, int(rng.integers(0, 60)))
        expected = df.astype(str).duplicated().to_numpy()
        np.testing.assert_array_equal(duplicated_rows(df), expected)


def test_known_codes_stand_in_for_a_column():
    df = pd.DataFrame({"id": ["a", "b", "a", "a"], "v": [1, 1, 1, 2]})
    assert duplicated_rows(df).tolist() == [False, False, True, False]
    # codes that say "all ids differ" make every row unique
    assert duplicated_rows(df, {"id": np.arange(4)}).tolist() == [False] * 4


def test_codes_and_positions():
    s = pd.Series(["b", "a", None, "b"], dtype="str")
    assert codes(s).tolist() == [0, 1, -1, 0]
    assert positions(s, pd.Index(["a", "b", "c"])).tolist() == [1, 0, -1, 1]


def test_chunked_columns_get_one_numbering():
    import pyarrow as pa
    chunks = pa.chunked_array([["b", "a"], [None, "c", "b"], ["a"]], type=pa.large_string())
    s = pd.Series(pd.arrays.ArrowStringArray(chunks))
    assert codes(s).tolist() == [0, 1, -1, 2, 0, 1]
    assert positions(s, pd.Index(["a", "b"])).tolist() == [1, 0, -1, -1, 1, 0]
    empty = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([], type=pa.large_string())))
    assert codes(empty).tolist() == [] and positions(empty, pd.Index(["a"])).tolist() == []


@pytest.mark.parametrize("n_parts", [1, 2, 7, 64])
@pytest.mark.parametrize("large", [False, True])
def test_codes_in_parts_equal_one_hash_table(n_parts, large):
    import pyarrow as pa
    from ringfence.graph._arrow import _codes_in_parts, _codes_one_table
    rng = np.random.default_rng(3)
    vals = np.array([f"v{x}" for x in rng.integers(0, 3000, 30000)]
                    + ["", "a", "ab", "é", "x" * 40, "alice@mail.com", "bob@mail.com"], dtype=object)
    rng.shuffle(vals)
    vals[rng.random(len(vals)) < 0.01] = None
    arr = pa.array(vals, type=pa.large_string() if large else pa.string())
    chunked = pa.chunked_array([arr.slice(0, 1000), arr.slice(1000, 20000), arr.slice(21000)])
    for data in (arr, chunked, arr.slice(7, 25000)):
        got = _codes_in_parts(data, n_parts)
        np.testing.assert_array_equal(got, _codes_one_table(data))
        # first-seen order: code k first appears before code k + 1
        first = np.flatnonzero(got > np.maximum.accumulate(np.r_[-1, got[:-1]]))
        assert np.array_equal(got[first], np.arange(len(first)))


def test_part_keys_depend_on_the_string_only():
    import pyarrow as pa
    from ringfence.graph._arrow import _part_keys
    # lengths 0 to 17 (the last word straddles the start, is whole, or is the whole
    # string), short strings last in their buffer, the same strings at other offsets
    words = ["x" * k for k in range(18)] + ["abcdefgh", "zabcdefgh", "é", "ab"]
    one = _part_keys(pa.array(words), 1000)
    other = pa.chunked_array([pa.array(["pad", "ab"] + words[::-1]).slice(2), pa.array(["é"])])
    again = _part_keys(other, 1000)
    assert again.tolist() == one.tolist()[::-1] + [one[20]]
    assert one[18] != one[19] and len(set(one[:18].tolist())) > 12  # the bytes count


def test_many_values_are_coded_in_parts(monkeypatch):
    from ringfence.graph import _arrow
    calls = []
    real = _arrow._codes_in_parts
    monkeypatch.setattr(_arrow, "PART_ROWS", 100)
    monkeypatch.setattr(_arrow, "_codes_in_parts", lambda d, k: calls.append(k) or real(d, k))
    s = pd.Series([f"id{i % 170}" for i in range(1000)], dtype="str")
    c = _arrow.codes(s)
    assert calls == [10] and c.max() == 169 and c[170] == 0


@pytest.mark.parametrize("cells", [
    ["1", "2.5", "1e3"], ["-0", "3"], ["+5", ".5", "5."], ["inf", "-Infinity", "nan", "NAN"],
    ["1e400", "4.9e-324", "1e-400"], ["00012", "123456789012345678"], ["-0.0", "1"],
    ["-1e-400"], ["1", ""], [" 5"], ["0x10"], ["1.2345678901234567890"], ["1,5"]])
def test_text_to_float_reads_numbers_as_pandas_reads_them_or_leaves_them(cells):
    s = pd.Series(cells, dtype="str")
    fast = arrow_helpers.text_to_float(s)
    if fast is not None:
        slow = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
        np.testing.assert_array_equal(fast, slow)
        assert np.signbit(fast).tolist() == np.signbit(slow).tolist()
    else:
        assert cells in (["-0.0", "1"], ["-1e-400"], ["1", ""], [" 5"], ["0x10"],
                         ["1.2345678901234567890"], ["1,5"])

"""graph/params.py: constraints accept exactly the values they describe, and say so."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from ringfence.graph.params import (Boolean, ConfigError, Interval, MappingOf, Options, Text,
                                     validate_params)


@pytest.mark.parametrize("closed, accepted", [
    ("both", [True, True, True, True]),
    ("left", [True, True, True, False]),
    ("right", [False, True, True, True]),
    ("neither", [False, True, True, False]),
])
def test_interval_closedness_decides_the_bounds(closed, accepted):
    iv = Interval(float, 0, 1, closed=closed)
    assert [iv(v) for v in (0, 1e-12, 1 - 1e-12, 1)] == accepted
    assert not iv(-1e-12) and not iv(1 + 1e-12)


def test_interval_of_ints_takes_integers_only():
    iv = Interval(int, 1, 10)
    assert iv(1) and iv(10) and iv(np.int64(5))
    assert not iv(0) and not iv(11)
    assert not iv(5.0)                     # a float is not an integer, even a whole one
    assert not iv("5")


def test_interval_of_floats_takes_any_real_number():
    iv = Interval(float, 0, 1)
    assert iv(0) and iv(1) and iv(0.5) and iv(np.float32(0.25)) and iv(Fraction(1, 3))
    assert not iv("0.5") and not iv(None) and not iv(1j)


def test_interval_rejects_booleans():
    assert not Interval(int, 0, 1)(True)
    assert not Interval(int, 0, 1)(False)
    assert not Interval(float, None, None)(True)
    assert not Interval(int, None, None)(np.bool_(True))


@pytest.mark.parametrize("v", [float("nan"), float("inf"), float("-inf"), np.nan, np.inf])
def test_interval_rejects_non_finite_numbers_even_unbounded(v):
    assert not Interval(float, None, None)(v)


def test_interval_takes_integers_too_large_for_a_float():
    # a seed of 10**400 is a valid integer; it must not crash the finiteness check
    assert Interval(int, None, None)(10**400)
    assert not Interval(int, None, 10**300)(10**400)


def test_unbounded_sides():
    assert Interval(int, None, 5)(-10**12)
    assert Interval(float, -1, None)(1e300)
    assert not Interval(float, None, 0, closed="neither")(0)


@pytest.mark.parametrize("iv, text", [
    (Interval(int, 1, None), "an integer >= 1"),
    (Interval(int, 1, None, closed="neither"), "an integer > 1"),
    (Interval(float, None, 2), "a number <= 2"),
    (Interval(float, None, 2, closed="left"), "a number < 2"),
    (Interval(float, 0, None), "a non-negative number"),
    (Interval(int, 0, None), "a non-negative integer"),
    (Interval(float, 0, None, closed="neither"), "a positive number"),
    (Interval(float, 0, 1), "a number between 0 and 1"),
    (Interval(float, 0, 1, closed="neither"), "a number between 0 and 1 (exclusive)"),
    (Interval(float, 0, 1, closed="left"), "a number in [0, 1)"),
    (Interval(int, 0, 9, closed="right"), "an integer in (0, 9]"),
    (Interval(int, None, None), "an integer"),
])
def test_interval_wording(iv, text):
    assert str(iv) == text


def test_options_are_type_strict():
    opts = Options(True, -1, "csv")
    assert opts(True) and opts(-1) and opts("csv")
    assert not opts(1)          # 1 == True, but 1 is not True
    assert not opts(-1.0)       # -1.0 == -1, but not an integer
    assert not opts("CSV") and not opts(None)
    assert not Options(1)(True)


def test_options_wording():
    assert str(Options("leiden", "louvain")) == "'leiden' or 'louvain'"
    assert str(Options(-1)) == "-1"
    assert str(Options("a", "b", "c")) == "one of 'a', 'b', 'c'"


def test_boolean_and_text():
    assert Boolean()(True) and Boolean()(False)
    assert not Boolean()(1) and not Boolean()(0) and not Boolean()("true")
    assert Text()("x") and not Text()("") and not Text()(None) and not Text()(1)
    assert (str(Boolean()), str(Text())) == ("true or false", "a non-empty string")


def test_mapping_of_names_the_bad_key():
    constraints = {"share_limits": [MappingOf(Interval(int, 2, None))]}
    validate_params({"share_limits": {"ip": 50, "card": 2}}, constraints)
    with pytest.raises(ConfigError) as e:
        validate_params({"share_limits": {"ip": 50, "card": 1}}, constraints)
    assert str(e.value) == "share_limits['card'] must be an integer >= 2, got 1"
    with pytest.raises(ConfigError, match=r"^share_limits\['ip'\] must be an integer >= 2, "
                                          r"got 2\.5$"):
        validate_params({"share_limits": {"ip": 2.5}}, constraints)


def test_mapping_of_refuses_a_non_mapping():
    constraints = {"kind_weights": [MappingOf(Interval(float, 0, None))]}
    with pytest.raises(ConfigError) as e:
        validate_params({"kind_weights": [1.0]}, constraints)
    assert str(e.value) == ("kind_weights must be a mapping of kind to a non-negative number, "
                            "got [1.0]")
    validate_params({"kind_weights": {}}, constraints)


def test_none_allowed_only_when_listed():
    constraints = {"a": [Interval(int, 1, None), None], "b": [Interval(int, 1, None)]}
    validate_params({"a": None, "b": 1}, constraints)
    with pytest.raises(ConfigError) as e:
        validate_params({"a": None, "b": None}, constraints)
    assert str(e.value) == "b must be an integer >= 1, got None"


def test_message_lists_every_alternative_and_the_value():
    constraints = {"cluster_iterations": [Interval(int, 1, None), Options(-1)],
                   "capacity": [Interval(int, 1, None), None],
                   "method": [Options("leiden", "louvain")]}
    with pytest.raises(ConfigError) as e:
        validate_params({"cluster_iterations": 0}, constraints)
    assert str(e.value) == "cluster_iterations must be an integer >= 1 or -1, got 0"
    with pytest.raises(ConfigError) as e:
        validate_params({"capacity": True}, constraints)
    assert str(e.value) == "capacity must be an integer >= 1 or None, got True"
    with pytest.raises(ConfigError) as e:
        validate_params({"method": "Leiden"}, constraints)
    assert str(e.value) == "method must be 'leiden' or 'louvain', got 'Leiden'"


def test_owner_prefixes_the_name_and_unconstrained_keys_pass():
    with pytest.raises(ConfigError) as e:
        validate_params({"seed": -1, "other": object()}, {"seed": [Interval(int, 0, None)]},
                        owner="SynthConfig")
    assert str(e.value) == "SynthConfig.seed must be a non-negative integer, got -1"
    # constraints of parameters not given are not checked
    validate_params({}, {"seed": [Interval(int, 0, None)]})


def test_first_failing_parameter_is_reported():
    constraints = {"a": [Interval(int, 0, None)], "b": [Interval(int, 0, None)]}
    with pytest.raises(ConfigError, match=r"^a must"):
        validate_params({"b": -1, "a": -1}, constraints)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)

"""Declarative parameter validation, in the style of scikit-learn's ``_parameter_constraints``.

A settings class lists, per parameter, the constraints any one of which the
value must satisfy; :func:`validate_params` checks them all and raises one
:class:`ConfigError` naming the parameter, what it must be and what it got.

Examples
--------
>>> constraints = {"capacity": [Interval(int, 1, None), None],
...                "method": [Options("leiden", "louvain")]}
>>> validate_params({"capacity": 10, "method": "leiden"}, constraints)
>>> validate_params({"capacity": 0, "method": "leiden"}, constraints)
Traceback (most recent call last):
...
ringfence.graph.params.ConfigError: capacity must be an integer >= 1 or None, got 0
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Mapping, Sequence

__all__ = ["ConfigError", "Interval", "Options", "MappingOf", "Boolean", "Text",
           "validate_params"]


class ConfigError(ValueError):
    """A setting is out of range or unknown; the message names it."""


class Interval:
    """A number (``int`` or ``float``) between ``left`` and ``right`` (``None``: unbounded).

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``. Booleans
    and non-finite floats never satisfy it; an ``int`` interval takes integers
    only, a ``float`` interval any real number.
    """

    def __init__(self, kind: type, left: float | None, right: float | None,
                 closed: str = "both"):
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def __call__(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, Integral if self.kind is int else Real):
            return False
        # integers are always finite (and may be too large for math.isfinite's float)
        if not isinstance(v, Integral) and not math.isfinite(v):
            return False
        lo_ok = self.left is None or (v >= self.left if self.closed in ("both", "left")
                                      else v > self.left)
        hi_ok = self.right is None or (v <= self.right if self.closed in ("both", "right")
                                       else v < self.right)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.left == 0 and self.right is None:
            return f"a {'non-negative' if self.closed in ('both', 'left') else 'positive'} " + \
                what.split()[-1]
        lo = "[" if self.closed in ("both", "left") else "("
        hi = "]" if self.closed in ("both", "right") else ")"
        if self.left is not None and self.right is not None:
            if self.closed in ("both", "neither"):
                return f"{what} between {self.left} and {self.right}" + \
                    (" (exclusive)" if self.closed == "neither" else "")
            return f"{what} in {lo}{self.left}, {self.right}{hi}"
        if self.left is not None:
            return f"{what} {'>=' if lo == '[' else '>'} {self.left}"
        if self.right is not None:
            return f"{what} {'<=' if hi == ']' else '<'} {self.right}"
        return what


class Options:
    """One of a fixed set of values."""

    def __init__(self, *values: Any):
        self.values = values

    def __call__(self, v: Any) -> bool:
        return any(v == x and type(v) is type(x) for x in self.values)

    def __str__(self) -> str:
        names = [repr(x) for x in self.values]
        if len(names) <= 2:
            return " or ".join(names)
        return "one of " + ", ".join(names)


class Boolean:
    """``True`` or ``False`` (not 0 or 1)."""

    def __call__(self, v: Any) -> bool:
        return isinstance(v, bool)

    def __str__(self) -> str:
        return "true or false"


class Text:
    """A non-empty string."""

    def __call__(self, v: Any) -> bool:
        return isinstance(v, str) and v != ""

    def __str__(self) -> str:
        return "a non-empty string"


class MappingOf:
    """A mapping from names (kinds) to values that satisfy ``value``."""

    def __init__(self, value: Interval):
        self.value = value

    def __call__(self, v: Any) -> bool:
        return isinstance(v, Mapping)

    def __str__(self) -> str:
        return f"a mapping of kind to {self.value}"


def _describe(allowed: Sequence[Any]) -> str:
    return " or ".join("None" if c is None else str(c) for c in allowed)


def validate_params(params: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]],
                    *, owner: str | None = None) -> None:
    """Check every parameter in ``params`` that has constraints; raise on the first failure.

    ``None`` in a constraint list allows ``None``. A :class:`MappingOf`
    constraint also checks each value of the mapping, and the message names
    the key (``share_limits['ip'] must be ...``). ``owner`` prefixes the
    parameter's name (``SynthConfig.seed``).
    """
    for name, allowed in constraints.items():
        if name not in params:
            continue
        v = params[name]
        label = f"{owner}.{name}" if owner else name
        if v is None and None in allowed:
            continue
        ok = [c for c in allowed if c is not None and c(v)]
        if not ok:
            raise ConfigError(f"{label} must be {_describe(allowed)}, got {v!r}")
        for c in ok:
            if isinstance(c, MappingOf):
                for k, x in v.items():
                    if not c.value(x):
                        raise ConfigError(f"{label}[{k!r}] must be {c.value}, got {x!r}")

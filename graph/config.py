"""Parameters of the graph side, with defaults, validation and YAML loading.

A job config is a YAML mapping whose keys are the fields of
:class:`GraphConfig` (unknown keys are errors, so a typo never silently
falls back to a default)::

    kind_weights: {device: 1.0, card: 1.0, phone: 1.0, email: 0.6, ip: 0.25}
    share_limits: {ip: 50}
    link_threshold: 0.5
    identifier_half_life_days: 365
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

import yaml

from ringfence.graph.params import (Boolean, ConfigError, Interval, MappingOf, Options,
                                     validate_params)

__all__ = ["ConfigError", "GraphConfig", "load_config", "read_settings"]

DEFAULT_KIND_WEIGHTS = {
    # strong: rarely shared by different people
    "device": 1.0, "card": 1.0, "phone": 1.0,
    # medium: shared by families and reused by patterns
    "email": 0.6,
    # weak: shared by households, offices, carriers
    "address": 0.3, "ip": 0.25,
}
DEFAULT_SHARE_LIMITS = {
    "device": 20, "card": 10, "phone": 10, "email": 10, "address": 30, "ip": 50,
}
DEFAULT_EDGE_KIND_WEIGHTS: dict[str, float] = {}


_NONNEG = Interval(float, 0, None)
_POSITIVE = Interval(float, 0, None, closed="neither")


@dataclass(frozen=True)
class GraphConfig:
    """Every knob of graph building, identity linking, clustering and propagation.

    Parameters
    ----------
    kind_weights
        Weight of one shared identifier per kind. Kinds not listed get
        ``default_kind_weight``.
    default_kind_weight
        Weight of identifier kinds not in ``kind_weights``.
    share_limits
        An identifier used by more accounts than its kind's limit links nobody
        (carrier NAT IPs, emulator device ids). Kinds not listed get
        ``default_share_limit``.
    default_share_limit
        Share limit of kinds not in ``share_limits``.
    hub_exponent
        Below the limit, an identifier's weight is multiplied by
        ``min(1, (hub_free_size / n) ** hub_exponent)`` where ``n`` is the
        number of accounts using it.
    hub_free_size
        Number of accounts that may share an identifier at full weight.
    link_threshold
        Two accounts are linked (same actor) when the summed weight of the
        identifiers they share reaches this. The default lets one strong
        identifier suffice.
    max_identity_size
        Identities larger than this are split by their weakest links.
    identifier_half_life_days, edge_half_life_days, ban_half_life_days
        Age weighting: an observation, edge or ban this many days older than
        the as-of time counts half. ``None`` disables it.
    edge_kind_weights, default_edge_weight
        Multiplier of account-to-account edges by kind.
    restart
        Probability that the propagation walk jumps back to a banned account
        (1 - damping).
    tol, max_iter
        Propagation stops when the L1 change falls below ``tol`` or after
        ``max_iter`` iterations.
    violation_boost
        A seed's weight is ``1 + violation_boost * log1p(violations)``.
    degree_normalise
        Divide propagated mass by weighted degree (SybilRank) so hubs do not
        collect risk for being hubs.
    cluster_method, cluster_objective, cluster_resolution
        ``"leiden"`` or ``"louvain"``; ``"cpm"`` (Constant Potts Model, Leiden
        only, the default) or ``"modularity"``; the resolution: for CPM the
        link weight per pair of members a cluster must exceed (0.05: a ring
        of 20 needs the weight of about 10 strong shared identifiers), for
        modularity its resolution parameter. CPM has no resolution limit, so
        rings come out the same size whatever the size of the platform
        (modularity merged small rings into clusters of hundreds at
        1,000,000 accounts).
    cluster_iterations
        Leiden iterations, each refining the previous partition (-1: until
        stable); the first starts from the identities. Ignored by Louvain.
    seed
        Seed of every randomised step (clustering).
    """

    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    default_kind_weight: float = 0.3
    share_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SHARE_LIMITS))
    default_share_limit: int = 20
    hub_exponent: float = 0.5
    hub_free_size: int = 4
    link_threshold: float = 0.5
    max_identity_size: int = 50
    identifier_half_life_days: float | None = 365.0
    edge_half_life_days: float | None = 180.0
    ban_half_life_days: float | None = 365.0
    edge_kind_weights: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_EDGE_KIND_WEIGHTS))
    default_edge_weight: float = 0.5
    restart: float = 0.15
    tol: float = 1e-8
    max_iter: int = 200
    violation_boost: float = 1.0
    degree_normalise: bool = True
    cluster_method: str = "leiden"
    cluster_objective: str = "cpm"
    cluster_resolution: float = 0.05
    cluster_iterations: int = 1
    seed: int = 0

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "kind_weights": [MappingOf(_NONNEG)],
        "default_kind_weight": [_NONNEG],
        "share_limits": [MappingOf(Interval(int, 2, None))],
        "default_share_limit": [Interval(int, 2, None)],
        "hub_exponent": [_NONNEG],
        "hub_free_size": [Interval(int, 2, None)],
        "link_threshold": [_POSITIVE],
        "max_identity_size": [Interval(int, 2, None)],
        "identifier_half_life_days": [_POSITIVE, None],
        "edge_half_life_days": [_POSITIVE, None],
        "ban_half_life_days": [_POSITIVE, None],
        "edge_kind_weights": [MappingOf(_NONNEG)],
        "default_edge_weight": [_NONNEG],
        "restart": [Interval(float, 0, 1, closed="neither")],
        "tol": [_POSITIVE],
        "max_iter": [Interval(int, 1, None)],
        "violation_boost": [_NONNEG],
        "degree_normalise": [Boolean()],
        "cluster_method": [Options("leiden", "louvain")],
        "cluster_objective": [Options("cpm", "modularity")],
        "cluster_resolution": [_POSITIVE],
        "cluster_iterations": [Interval(int, 1, None), Options(-1)],
        "seed": [Interval(int, None, None)],
    }

    def __post_init__(self) -> None:
        validate_params(dataclasses.asdict(self), self._parameter_constraints)
        for name in ("kind_weights", "edge_kind_weights"):
            object.__setattr__(self, name, {str(k): float(v) for k, v in getattr(self, name).items()})
        if self.cluster_objective == "cpm" and self.cluster_method != "leiden":
            raise ConfigError("cluster_objective 'cpm' needs cluster_method 'leiden'; "
                              "use cluster_objective: modularity with louvain")

    def kind_weight(self, kind: str) -> float:
        return self.kind_weights.get(kind, self.default_kind_weight)

    def share_limit(self, kind: str) -> int:
        return self.share_limits.get(kind, self.default_share_limit)

    def edge_weight(self, kind: str) -> float:
        return self.edge_kind_weights.get(kind, self.default_edge_weight)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "GraphConfig":
        return dataclasses.replace(self, **changes)


def read_settings(source: str | Path | Mapping[str, Any] | None,
                  label: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(label, settings)`` from a YAML file (its path is the label) or a mapping.

    Raises :class:`ConfigError` for a missing file, invalid YAML or a file
    that is not a mapping of settings.
    """
    if isinstance(source, (str, Path)):
        label = str(source)
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{label}: file not found") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{label}: not valid YAML: {e}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{label}: expected a mapping of settings, got {type(data).__name__}")
        return label, dict(data)
    return label or "config", dict(source or {})


def unknown_settings(label: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Raise :class:`ConfigError` naming every unknown setting, with a did-you-mean."""
    known = sorted(set(known))
    unknown = sorted(set(given) - set(known))
    if unknown:
        hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(
            u, known, n=1)) else "") for u in unknown]
        raise ConfigError(f"{label}: unknown setting(s): " + ", ".join(hints))


def load_config(source: str | Path | Mapping[str, Any] | None, *, label: str | None = None,
                **overrides: Any) -> GraphConfig:
    """A :class:`GraphConfig` from a YAML file or mapping, then ``overrides``.

    Mappings in the file (``kind_weights``, ``share_limits``,
    ``edge_kind_weights``) are merged over the defaults, so a file may name
    only the kinds it changes. Raises :class:`ConfigError` naming the file and
    the key for unknown keys and bad values (``label`` names a mapping's origin).
    """
    label, data = read_settings(source, label)
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    unknown_settings(label, data, (f.name for f in dataclasses.fields(GraphConfig)))
    defaults = GraphConfig()
    merged = dict(data)
    for key in ("kind_weights", "share_limits", "edge_kind_weights"):
        if key in merged and isinstance(merged[key], Mapping):
            merged[key] = {**getattr(defaults, key), **merged[key]}
    try:
        return GraphConfig(**merged)
    except ConfigError as e:
        raise ConfigError(f"{label}: {e}") from None

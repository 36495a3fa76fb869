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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["ConfigError", "GraphConfig", "load_config"]

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


class ConfigError(ValueError):
    """A configuration value is out of range or unknown; the message names it."""


def _check_weights(name: str, mapping: Mapping[str, Any], allow_zero: bool = True) -> dict:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{name} must be a mapping of kind to number, got {mapping!r}")
    out = {}
    for k, v in mapping.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                or v < 0 or (v == 0 and not allow_zero):
            raise ConfigError(f"{name}[{k!r}] must be a {'non-negative' if allow_zero else 'positive'}"
                              f" number, got {v!r}")
        out[str(k)] = float(v)
    return out


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind_weights", _check_weights("kind_weights", self.kind_weights))
        object.__setattr__(self, "edge_kind_weights",
                           _check_weights("edge_kind_weights", self.edge_kind_weights))
        limits = self.share_limits
        if not isinstance(limits, Mapping):
            raise ConfigError(f"share_limits must be a mapping of kind to integer, got {limits!r}")
        for k, v in limits.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 2:
                raise ConfigError(f"share_limits[{k!r}] must be an integer >= 2, got {v!r}")
        self._positive("default_kind_weight", allow_zero=True)
        self._positive("default_edge_weight", allow_zero=True)
        self._positive("hub_exponent", allow_zero=True)
        self._positive("link_threshold")
        self._positive("tol")
        self._positive("cluster_resolution")
        self._positive("violation_boost", allow_zero=True)
        for name in ("default_share_limit", "hub_free_size", "max_identity_size", "max_iter"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (2 if "size" in name or
                                                                     "limit" in name else 1):
                raise ConfigError(f"{name} must be an integer >= "
                                  f"{2 if 'size' in name or 'limit' in name else 1}, got {v!r}")
        for name in ("identifier_half_life_days", "edge_half_life_days", "ban_half_life_days"):
            if getattr(self, name) is not None:
                self._positive(name)
        if not isinstance(self.restart, (int, float)) or not 0 < self.restart < 1:
            raise ConfigError(f"restart must be between 0 and 1 (exclusive), got {self.restart!r}")
        it = self.cluster_iterations
        if not isinstance(it, int) or isinstance(it, bool) or not (it >= 1 or it == -1):
            raise ConfigError(f"cluster_iterations must be an integer >= 1, or -1 (until "
                              f"stable), got {it!r}")
        if self.cluster_method not in ("leiden", "louvain"):
            raise ConfigError(f"cluster_method must be 'leiden' or 'louvain', "
                              f"got {self.cluster_method!r}")
        if self.cluster_objective not in ("cpm", "modularity"):
            raise ConfigError(f"cluster_objective must be 'cpm' or 'modularity', "
                              f"got {self.cluster_objective!r}")
        if self.cluster_objective == "cpm" and self.cluster_method != "leiden":
            raise ConfigError("cluster_objective 'cpm' needs cluster_method 'leiden'; "
                              "use cluster_objective: modularity with louvain")
        if not isinstance(self.degree_normalise, bool):
            raise ConfigError(f"degree_normalise must be true or false, got {self.degree_normalise!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    def _positive(self, name: str, allow_zero: bool = False) -> None:
        v = getattr(self, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                or v < 0 or (v == 0 and not allow_zero):
            raise ConfigError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                              f"number, got {v!r}")

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


def load_config(source: str | Path | Mapping[str, Any] | None, **overrides: Any) -> GraphConfig:
    """A :class:`GraphConfig` from a YAML file or mapping, then ``overrides``.

    Mappings in the file (``kind_weights``, ``share_limits``,
    ``edge_kind_weights``) are merged over the defaults, so a file may name
    only the kinds it changes. Raises :class:`ConfigError` naming the file and
    the key for unknown keys and bad values.
    """
    label = "config"
    data: Mapping[str, Any] = {}
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
    elif source is not None:
        data = source
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    fields = {f.name for f in dataclasses.fields(GraphConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        import difflib
        hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(
            u, fields, n=1)) else "") for u in unknown]
        raise ConfigError(f"{label}: unknown setting(s): " + ", ".join(hints))
    defaults = GraphConfig()
    merged = dict(data)
    for key in ("kind_weights", "share_limits", "edge_kind_weights"):
        if key in merged and isinstance(merged[key], Mapping):
            merged[key] = {**getattr(defaults, key), **merged[key]}
    try:
        return GraphConfig(**merged)
    except ConfigError as e:
        raise ConfigError(f"{label}: {e}") from None

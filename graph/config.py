"""Parameters of the graph side, with defaults, validation and YAML loading.

A job config is a YAML mapping whose keys are the fields of
:class:`GraphConfig` (unknown keys, duplicate keys and kinds one typo away
from a known kind are errors, so a typo never silently falls back to a
default)::

    kind_weights: {device: 1.0, card: 1.0, phone: 1.0, email: 0.6, ip: 0.25}
    share_limits: {ip: 50}
    link_threshold: 0.5
    identifier_half_life_days: 365
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

import yaml

from ringfence.graph.params import (Boolean, ConfigError, Interval, MappingOf, Options,
                                     validate_params)

__all__ = ["ConfigError", "GraphConfig", "load_config", "read_settings", "kind_typo"]

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
# the edge kinds the input contract names; a config key one typo away from one is refused
KNOWN_EDGE_KINDS = ("transfer", "message")
#: the mappings from kinds to settings, and the kinds each one's keys are checked against
KIND_MAPPINGS = {"kind_weights": tuple(DEFAULT_KIND_WEIGHTS),
                 "share_limits": tuple(DEFAULT_KIND_WEIGHTS),
                 "edge_kind_weights": KNOWN_EDGE_KINDS}
_TOKEN = re.compile(r"[a-z][a-z0-9_]*")


class _Mapping:
    """Any mapping (its keys are checked by the code that reads it)."""

    def __call__(self, v: Any) -> bool:
        return isinstance(v, Mapping)

    def __str__(self) -> str:
        return "a mapping of settings"


_MAPPING = _Mapping()
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
        A pair whose summed identifier weight reaches this is a strong
        sharing: the links output keeps it as a ``shared_environment`` link
        even when the linker finds it is not the same actor (the features'
        "strong links" use it too). Identities no longer come from it.
    linking
        Settings of the identity linker (:class:`ringfence.graph.linking.IdentityLinker`,
        merged over :data:`ringfence.graph.linking.DEFAULT_SETTINGS`):
        ``threshold`` (match probability from which two accounts are the same
        actor, default 0.5), ``prior`` (None: estimated by EM),
        ``hub_bands``, ``share_limits``, ``after_ban_days``, ``comparisons``,
        ``joint`` (comparisons compared as one: device, IP and address),
        ``sharing_several_above`` (the ``sharing`` comparison: from which mixing
        the values a pair shares are "several people's", default 0.5; None: no
        such comparison),
        ``training_blocks`` (one EM session per personal identifier: card,
        email), ``phone_region``, ``supervised`` (the pair classifier used with
        enough reviewer decisions: ``min_decisions``, ``model``,
        ``classifier_share``, ...), ... Example YAML: ``linking: {threshold: 0.8}``.
    max_identity_size
        Identities larger than this are split by their weakest links. 20: one
        actor rarely runs more accounts (the synthetic platform's largest actor
        has 18), while a ring's proxy or a shared device chains dozens; at 50,
        the identities' pairwise precision on the 20,000-account platform fell
        from 0.66 to 0.53.
    identifier_half_life_days, edge_half_life_days, ban_half_life_days
        Age weighting: an observation, edge or ban this many days older than
        the as-of time counts half. ``None`` disables it.
    edge_kind_weights, default_edge_weight
        Multiplier of account-to-account edges by kind.
    edge_repeat_cap
        The edges between two accounts add up to at most this many times the
        strongest of them. Without a cap, 1,000 copies of one edge gave that
        pair 1,000 times the weight, which took nearly all the risk the two
        accounts pass on and swelled their weighted degree (a banned account's
        other neighbour fell from 0.20 to 0.0007 in propagation; with the cap,
        to 0.13).
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
    linking: dict[str, Any] = field(default_factory=dict)
    max_identity_size: int = 20
    identifier_half_life_days: float | None = 365.0
    edge_half_life_days: float | None = 180.0
    ban_half_life_days: float | None = 365.0
    edge_kind_weights: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_EDGE_KIND_WEIGHTS))
    default_edge_weight: float = 0.5
    edge_repeat_cap: float = 3.0
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
        "linking": [_MAPPING],
        "max_identity_size": [Interval(int, 2, None)],
        "identifier_half_life_days": [_POSITIVE, None],
        "edge_half_life_days": [_POSITIVE, None],
        "ban_half_life_days": [_POSITIVE, None],
        "edge_kind_weights": [MappingOf(_NONNEG)],
        "default_edge_weight": [_NONNEG],
        "edge_repeat_cap": [Interval(float, 1, None)],
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
        for name in KIND_MAPPINGS:
            for key in getattr(self, name):
                if (problem := kind_typo(name, key)):
                    raise ConfigError(problem)
        for name in ("kind_weights", "edge_kind_weights"):
            object.__setattr__(self, name, {str(k): float(v) for k, v in getattr(self, name).items()})
        from ringfence.graph.linking.linker import _settings  # linking imports this module
        _settings(self.linking)
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

    def unused_kind_notes(self, identifier_kinds: Iterable[str],
                          edge_kinds: Iterable[str]) -> list[str]:
        """Notes on kinds this config sets that the data never uses (the setting does nothing).

        Only kinds the config changes count: a default weight or limit for a
        kind the data lacks is not worth a note.

        >>> GraphConfig(share_limits={"fax": 5}).unused_kind_notes(["device"], [])
        ["config share_limits: kind 'fax' does not occur in the identifiers' kind column \
(0 rows); the setting has no effect"]
        """
        used = {"kind_weights": set(identifier_kinds), "share_limits": set(identifier_kinds),
                "edge_kind_weights": set(edge_kinds)}
        table = {"kind_weights": "identifiers", "share_limits": "identifiers",
                 "edge_kind_weights": "edges"}
        defaults = GraphConfig.__dataclass_fields__
        notes = []
        for name in KIND_MAPPINGS:
            default = defaults[name].default_factory()
            for kind, value in sorted(getattr(self, name).items()):
                if kind not in used[name] and default.get(kind) != value:
                    notes.append(f"config {name}: kind {kind!r} does not occur in the "
                                 f"{table[name]}' kind column (0 rows); the setting has no effect")
        return notes

    def replace(self, **changes: Any) -> "GraphConfig":
        return dataclasses.replace(self, **changes)


def _typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap of neighbours) from ``a`` to ``b``."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def kind_typo(mapping: str, key: Any) -> str | None:
    """Why ``key`` cannot be a kind of ``mapping`` (``"share_limits"``, ...), or None.

    Kinds are lower-case tokens (the input contract), and a key one edit
    away from a known kind (two for kinds of six letters or more) is taken
    for a typo of it: a misspelt key would otherwise set nothing, silently.

    >>> kind_typo("share_limits", "devices")
    "share_limits: unknown kind 'devices' (did you mean 'device'?)"
    >>> kind_typo("share_limits", "device_id") is None
    True
    """
    known = KIND_MAPPINGS[mapping]
    if not isinstance(key, str) or not _TOKEN.fullmatch(key):
        return (f"{mapping}: {key!r} is not a kind (kinds are lower-case tokens such as "
                f"{known[0]!r})")
    if key in known:
        return None
    for kind in known:
        if _typo_distance(key, kind) <= (2 if len(kind) >= 6 else 1):
            return f"{mapping}: unknown kind {key!r} (did you mean {kind!r}?)"
    return None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML says keys are unique)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)):
                continue  # an unhashable key: the safe loader's own error follows
            if key in first:
                raise _DuplicateKey(key, line, first[key])
            first[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first: int):
        super().__init__(f"line {line}: duplicate key {key!r} (first given on line {first})")


def _check_kind_keys(label: str, root: yaml.Node | None) -> None:
    """Refuse kind-mapping keys that are typos of known kinds, naming the line."""
    if not isinstance(root, yaml.MappingNode):
        return
    for name_node, value_node in root.value:
        if name_node.value in KIND_MAPPINGS and isinstance(value_node, yaml.MappingNode):
            for key_node, _ in value_node.value:
                if (problem := kind_typo(name_node.value, key_node.value)):
                    raise ConfigError(f"{label}, line {key_node.start_mark.line + 1}: {problem}")


def read_settings(source: str | Path | Mapping[str, Any] | None,
                  label: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(label, settings)`` from a YAML file (its path is the label) or a mapping.

    Raises :class:`ConfigError` for a missing file, invalid YAML, a key
    given twice in one mapping, a kind key that is a typo of a known kind
    (:func:`kind_typo`) or a file that is not a mapping of settings.
    """
    if isinstance(source, (str, Path)):
        label = str(source)
        try:
            loader = _UniqueKeyLoader(Path(source).read_text(encoding="utf-8"))
            try:
                root = loader.get_single_node()
                data = loader.construct_document(root) if root is not None else {}
            finally:
                loader.dispose()
        except FileNotFoundError:
            raise ConfigError(f"{label}: file not found") from None
        except _DuplicateKey as e:
            raise ConfigError(f"{label}, {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{label}: not valid YAML: {e}") from None
        data = data or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{label}: expected a mapping of settings, got {type(data).__name__}")
        _check_kind_keys(label, root)
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

"""The fixed names the Neo4j code writes into query text, and their checks.

Labels, relationship types and property names cannot be Cypher parameters, so every
one that reaches a query comes from the fixed lists here, or from an edge kind turned
into a type by :func:`relationship_type`, and passes :func:`_checked_name` on the way.
Values are always parameters.

Examples
--------
>>> relationship_type("transfer"), relationship_type("uses")
('TRANSFER', 'EDGE_USES')
>>> IDENTIFIER_LABELS["ip"]
'IP'
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["CONSTRAINTS", "IDENTIFIER_LABELS", "IDENTIFIER_NODE_LABELS", "OWN_LABELS",
           "OWN_TYPES", "SYNC_LABEL", "relationship_type"]

#: identifier kind -> its node label (fixed); nodes of other kinds are (:Identifier {kind})
IDENTIFIER_LABELS: dict[str, str] = {
    "device": "Device", "ip": "IP", "card": "Card", "phone": "Phone",
    "email": "Email", "address": "Address",
}
GENERIC_IDENTIFIER = "Identifier"
#: every label an identifier node can have (each node has exactly one of them)
IDENTIFIER_NODE_LABELS = tuple(IDENTIFIER_LABELS.values()) + (GENERIC_IDENTIFIER,)
KIND_RE = re.compile(r"[a-z][a-z0-9_]*")          # the input contract's kind token
TYPE_RE = re.compile(r"[A-Z][A-Z0-9_]*")          # relationship types made from kinds
MAX_NAME = 64
#: relationship types the sync writes for itself; an edge kind that maps onto one gets EDGE_
OWN_TYPES = ("USES", "SAME_ACTOR", "IN_CLUSTER", "HAS_ENFORCEMENT")
#: the labels the sync owns (their nodes are replaced or deleted by a sync)
OWN_LABELS = ("Account",) + IDENTIFIER_NODE_LABELS + ("Cluster", "Enforcement")
#: Account properties the sync derives; an input attribute with one of these names is
#: stored as ``input.<name>`` and read back under its own name
OUTPUT_PROPS = ("score", "rank", "percentile", "flagged", "identity_id", "cluster_id", "banned",
                "cleared", "violations", "propagation_score", "reasons", "decision",
                "status_vs_previous")
RESERVED_ACCOUNT_PROPS = ("account_id", "created_at", "run_id") + OUTPUT_PROPS
ATTR_PREFIX = "input."
#: the one node that records which run the database holds and the digest of its sync state
#: (graph/neo4j/incremental.py); not an owned label: pruning never touches it
SYNC_LABEL = "RingfenceSync"
CLUSTER_TIME_COLUMNS = ("first_activity", "last_activity")

# One label per identifier node, each with its own unique key: a MERGE on two labels
# (:Identifier:Device) is a scan on ArcadeDB (~700 rows/s and falling), one label ~11,000/s.
CONSTRAINTS = (
    "CREATE CONSTRAINT ringfence_account_id IF NOT EXISTS "
    "FOR (a:Account) REQUIRE a.account_id IS UNIQUE",
    *(f"CREATE CONSTRAINT ringfence_{kind}_value IF NOT EXISTS "
      f"FOR (i:{label}) REQUIRE i.value IS UNIQUE" for kind, label in IDENTIFIER_LABELS.items()),
    "CREATE CONSTRAINT ringfence_identifier_key IF NOT EXISTS "
    "FOR (i:Identifier) REQUIRE (i.kind, i.value) IS UNIQUE",
    "CREATE CONSTRAINT ringfence_cluster_id IF NOT EXISTS "
    "FOR (c:Cluster) REQUIRE c.cluster_id IS UNIQUE",
    "CREATE CONSTRAINT ringfence_enforcement_id IF NOT EXISTS "
    "FOR (e:Enforcement) REQUIRE e.enforcement_id IS UNIQUE",
)


LABEL_RE = re.compile(r"[A-Z][A-Za-z0-9_]*")      # labels/types written into query text
PROP_RE = re.compile(r"[a-z][a-z0-9_]*")          # property names written into query text


def _checked_name(name: str, pattern: re.Pattern = LABEL_RE) -> str:
    """A label, type or property name about to be written into query text: must be safe."""
    if not (isinstance(name, str) and len(name) <= MAX_NAME and pattern.fullmatch(name)):
        raise ValueError(f"refusing to write {name!r} into a query: not a validated name")
    return name


def relationship_type(kind: str) -> str:
    """The relationship type of an edge kind: ``transfer`` -> ``TRANSFER``.

    The kind must be a lower-case token (``[a-z][a-z0-9_]*``, at most 64
    characters); a kind that would collide with a type the sync writes for
    itself (``uses``, ``same_actor``, ``in_cluster``, ``has_enforcement``) gets
    the prefix ``EDGE_``. Every edge relationship also keeps its ``kind``.
    """
    if not (isinstance(kind, str) and len(kind) <= MAX_NAME and KIND_RE.fullmatch(kind)):
        raise ValueError(f"edge kind {kind!r} is not a lower-case token ([a-z][a-z0-9_]*)")
    t = kind.upper()
    return _checked_name("EDGE_" + t if t in OWN_TYPES else t, TYPE_RE)


def _identifier_pattern(var: str, label: str) -> str:
    """``(i:Device {value: row.value})``, or ``(i:Identifier {kind: row.kind, value: row.value})``
    for kinds without a label of their own."""
    if label not in IDENTIFIER_NODE_LABELS:
        raise ValueError(f"not an identifier label: {label!r}")
    key = "{value: row.value}" if label != GENERIC_IDENTIFIER else \
        "{kind: row.kind, value: row.value}"
    return f"({var}:{_checked_name(label)} {key})"


def _any_label(var: str, labels: Iterable[str]) -> str:
    """``(x:A OR x:B ...)`` from fixed, checked labels."""
    return "(" + " OR ".join(f"{var}:{_checked_name(l)}" for l in labels) + ")"

"""The account graph in Neo4j: sync a flag run into it, read input tables out of it,
and the investigator queries notebooks use.

Modules: :mod:`.names` (labels, types, constraints: the fixed lists), :mod:`.connection`
(settings, :func:`connect`, one-line errors, retries), :mod:`.rows` (a run as rows),
:mod:`.sync` (:func:`sync_to_neo4j`), :mod:`.incremental` (:func:`sync_changes`: only
what changed since the last sync), :mod:`.bulk` (:func:`export_bulk`: files for
``neo4j-admin database import``), :mod:`.load` (:func:`load_from_neo4j`,
:func:`write_tables`), :mod:`.queries` (:func:`neo4j_neighbourhood`,
:func:`neo4j_evidence_paths`). Syncing a flag job's output folder is
``sync_run_dir`` in the jobs package (graph never reads run folders).

What the sync writes (``sync_to_neo4j``; docs/neo4j.md has the full schema)::

    (:Account {account_id, created_at, <attributes>, score, rank, percentile, flagged,
               identity_id, cluster_id, banned, cleared, violations, propagation_score,
               reasons, decision, status_vs_previous, run_id})
    (:Device|IP|Card|Phone|Email|Address {kind, value, n_accounts, weight, first_seen,
               last_seen, run_id})        one label per node; other kinds: (:Identifier {kind, ...})
    (:Account)-[:USES {count, first_seen, last_seen, seen_at, run_id}]->(identifier)
    (:Account)-[:TRANSFER|MESSAGE|<KIND> {edge_id, kind, weight, at, amount, run_id}]->(:Account)
    (:Account)-[:SAME_ACTOR {weight, evidence, n_shared, kinds, top_identifier,
               identity_id, cut, run_id}]->(:Account)
    (:Cluster {cluster_id, size, risk, banned, cleared, violations, ..., run_id})
    (:Account)-[:IN_CLUSTER {run_id}]->(:Cluster)
    (:Enforcement {enforcement_id, account_id, action, at, reason, run_id})
    (:Account)-[:HAS_ENFORCEMENT {run_id}]->(:Enforcement)

Identifier values are stored in clear (the database is the investigators' own, and
holds what the input files hold); the flag job's derived text (``reasons``, the
``SAME_ACTOR`` ``evidence``) keeps the masks of the flag outputs.

Portability rules (docs/neo4j-testing.md, each checked against ArcadeDB and
valid on Neo4j 5): writes only in managed transactions; ``UNWIND $rows``
batches; unique constraints first; the account written on the left of every
relationship ``MERGE`` (or whichever end has the lower degree); stale data found
by a ``run_id`` stamp, never ``NOT x IN $keep``; timestamps sent as ISO strings
and stored with ``datetime()``; labels and relationship types only from fixed,
validated names written into the query text; every value a parameter.
"""

from ringfence.graph.neo4j.bulk import BulkExport, export_bulk
from ringfence.graph.neo4j.connection import Neo4jConnectionError, Neo4jSettings, connect
from ringfence.graph.neo4j.incremental import SyncState, sync_changes
from ringfence.graph.neo4j.load import load_from_neo4j, write_tables
from ringfence.graph.neo4j.names import IDENTIFIER_LABELS, relationship_type
from ringfence.graph.neo4j.queries import neo4j_evidence_paths, neo4j_neighbourhood
from ringfence.graph.neo4j.rows import default_run_id
from ringfence.graph.neo4j.sync import StepStats, SyncReport, ensure_schema, sync_to_neo4j

__all__ = [
    "BulkExport",
    "IDENTIFIER_LABELS",
    "Neo4jConnectionError",
    "Neo4jSettings",
    "StepStats",
    "SyncReport",
    "SyncState",
    "connect",
    "default_run_id",
    "ensure_schema",
    "export_bulk",
    "load_from_neo4j",
    "neo4j_evidence_paths",
    "neo4j_neighbourhood",
    "relationship_type",
    "sync_changes",
    "sync_to_neo4j",
    "write_tables",
]

"""The flag run most Neo4j tests sync."""

from __future__ import annotations

import pytest
from neo4j_helpers import flag

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform


@pytest.fixture(scope="module")
def platform():
    p = generate_platform(n_accounts=1000, seed=11)
    tables = load_tables(p.accounts, identifiers=p.identifiers, edges=p.edges,
                         enforcement=p.enforcement)
    return tables, flag(tables, review_capacity=40)

"""Names written into Cypher text: only validated ones."""

from __future__ import annotations

import pytest

from ringfence.graph.neo4j import relationship_type


def test_relationship_types_come_from_validated_kinds():
    assert relationship_type("transfer") == "TRANSFER"
    assert relationship_type("same_post") == "SAME_POST"
    assert relationship_type("same_actor") == "EDGE_SAME_ACTOR"   # never the sync's own type
    assert relationship_type("uses") == "EDGE_USES"
    for bad in ("Transfer", "x`]->() DETACH DELETE n //", "a-b", "", "1x", "x" * 65, None):
        with pytest.raises(ValueError):
            relationship_type(bad)

"""ringfence's graph side: the input contract, the account graph, identity
linking, offender clusters, blacklist propagation and stores (Neo4j).

This package never imports :mod:`models`.
"""

from ringfence.graph.tables import InputError, InputWarning, Problem, Tables, load_tables

__all__ = ["InputError", "InputWarning", "Problem", "Tables", "load_tables"]

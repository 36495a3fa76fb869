"""ringfence's graph side: the input contract, the account graph, identity
linking, offender clusters, blacklist propagation and stores (Neo4j).

This package never imports :mod:`models`.
"""

# first: it tells OpenMP how to wait before any library loads it (see graph/cpus.py)
import ringfence.graph.cpus  # noqa: F401
from ringfence.graph.tables import InputError, InputWarning, Problem, Tables, load_tables

__all__ = ["InputError", "InputWarning", "Problem", "Tables", "load_tables"]

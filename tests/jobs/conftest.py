"""A synthetic platform, its tables and a propagation-only flag run, shared by job tests."""

from __future__ import annotations

import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=6000, seed=3)


@pytest.fixture(scope="module")
def tables(platform):
    p = platform
    return load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)


@pytest.fixture(scope="module")
def propagation_result(tables):
    return run_flag(tables, review_capacity=60, scorer="propagation")

"""A synthetic platform and its graph stages, shared by the model tests of one module (one
thread per pool: tests/conftest.py)."""

from __future__ import annotations

import pytest
from helpers import graph_parts

from ringfence.graph.synth import generate_platform


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=8000, seed=11)


@pytest.fixture(scope="module")
def parts(platform):
    return graph_parts(platform)

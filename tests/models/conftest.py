"""A synthetic platform and its graph stages, shared by the model tests of one module."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits
from helpers import graph_parts

from ringfence.graph.synth import generate_platform


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=8000, seed=11)


@pytest.fixture(scope="module")
def parts(platform):
    return graph_parts(platform)


@pytest.fixture(scope="module", autouse=True)
def one_thread_per_pool():
    """Small fits spend longer synchronising threads (OpenMP, BLAS) than computing when the
    cores are shared (9 s instead of 0.8 s per fit); the results do not depend on it."""
    import sklearn.ensemble  # noqa: F401 (loads OpenMP, so that the limit reaches it)

    with threadpool_limits(limits=1):
        yield

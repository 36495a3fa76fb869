"""graph/pipeline.py: run_pipeline runs the stages asked for and equals the stages by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.clusters import find_clusters
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities
from ringfence.graph.pipeline import ENGINES, STAGES, GraphState, run_pipeline
from ringfence.graph.progress import Stages
from ringfence.graph.propagate import propagate_blacklist
from ringfence.graph.synth import generate_platform

TITLES = ["build graph", "link identities", "find clusters", "propagate blacklist"]
# a config other than the default, so that passing it through is checked too
CONFIG = GraphConfig(link_threshold=0.6, restart=0.2, seed=5)
AS_OF = "2026-06-01"


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=2000, seed=4)


def _tables(p):
    return load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)


@pytest.fixture(scope="module")
def full(platform):
    stages = Stages(quiet=True)
    return run_pipeline(_tables(platform), CONFIG, as_of=AS_OF, stages=stages), stages


@pytest.fixture(scope="module")
def by_hand(platform):
    t = _tables(platform)
    graph = build_graph(t, CONFIG, as_of=AS_OF)
    linking = link_identities(graph, CONFIG)
    membership, clusters = find_clusters(graph, CONFIG, identity=linking.identity)
    return graph, linking, membership, clusters, propagate_blacklist(graph, CONFIG)


def test_full_run_equals_the_stages_by_hand(full, by_hand):
    state, _ = full
    graph, linking, membership, clusters, propagation = by_hand
    assert state.engine == "in-process"
    assert state.graph.as_of == graph.as_of == pd.Timestamp(AS_OF, tz="UTC")
    assert state.graph.config == CONFIG
    np.testing.assert_array_equal(state.graph.account_ids, graph.account_ids)
    assert (state.graph.adjacency != graph.adjacency).nnz == 0
    pd.testing.assert_frame_equal(state.graph.status, graph.status)
    np.testing.assert_array_equal(state.linking.identity, linking.identity)
    np.testing.assert_array_equal(state.identity, linking.identity)
    pd.testing.assert_frame_equal(state.linking.table, linking.table)
    np.testing.assert_array_equal(state.membership, membership)
    pd.testing.assert_frame_equal(state.clusters, clusters)
    pd.testing.assert_frame_equal(state.propagation, propagation)


def test_full_run_times_every_stage_under_its_title(full):
    state, stages = full
    assert list(stages.timings) == TITLES
    assert list(stages.peak_mib) == TITLES
    assert len(state.propagation) == len(state.membership) == state.graph.n_accounts == 2000
    assert state.propagation["propagation_score"].between(0, 1).all()
    assert state.warnings == []


@pytest.mark.parametrize("stop_after, n_run", [("build", 1), ("identities", 2), ("clusters", 3)])
def test_stop_after_runs_exactly_the_stages_asked(platform, full, stop_after, n_run):
    stages = Stages(quiet=True)
    state = run_pipeline(_tables(platform), CONFIG, as_of=AS_OF, stages=stages,
                         stop_after=stop_after)
    assert STAGES[n_run - 1] == stop_after
    assert list(stages.timings) == TITLES[:n_run]
    later = [state.linking, state.membership, state.clusters, state.propagation]
    assert [x is None for x in later] == [n_run < 2, n_run < 3, n_run < 3, n_run < 4]
    ref, _ = full
    if n_run >= 2:
        np.testing.assert_array_equal(state.identity, ref.identity)
    if n_run >= 3:
        np.testing.assert_array_equal(state.membership, ref.membership)
    assert state.warnings == []


def test_identity_raises_when_identities_were_not_linked(platform):
    state = run_pipeline(_tables(platform), stop_after="build")
    assert state.linking is None
    with pytest.raises(ValueError, match="identities were not linked"):
        state.identity


def test_bad_stop_after_and_engine_are_value_errors(platform):
    t = _tables(platform)
    with pytest.raises(ValueError, match="stop_after must be one of build, identities, "
                                         "clusters, propagation, got 'cluster'"):
        run_pipeline(t, stop_after="cluster")
    with pytest.raises(ValueError, match="engine must be one of in-process, spark, got 'neo4j'"):
        run_pipeline(t, engine="neo4j")
    assert t.identifiers is not None           # refused before anything ran


def test_release_inputs_drops_identifiers_and_edges(platform, full):
    t = _tables(platform)
    state = run_pipeline(t, CONFIG, as_of=AS_OF, release_inputs=True, stop_after="identities")
    assert t.identifiers is None and t.edges is None
    assert t.accounts is not None and t.enforcement is not None
    ref, _ = full
    assert (state.graph.adjacency != ref.graph.adjacency).nnz == 0   # same graph all the same
    np.testing.assert_array_equal(state.identity, ref.identity)

    kept = _tables(platform)
    run_pipeline(kept, stop_after="build")
    assert kept.identifiers is not None and kept.edges is not None


def test_default_config_and_quiet_stages(platform, capsys):
    state = run_pipeline(_tables(platform), stop_after="build")
    assert state.graph.config == GraphConfig()
    assert capsys.readouterr().err == ""


def test_an_engine_plugs_in_through_engines(platform, monkeypatch):
    seen = {}

    def fake(tables, config, *, as_of, stages, release_inputs, stop_after):
        seen.update(config=config, as_of=as_of, release_inputs=release_inputs,
                    stop_after=stop_after)
        return GraphState(graph=None, engine="fake")

    monkeypatch.setitem(ENGINES, "fake", fake)
    state = run_pipeline(_tables(platform), CONFIG, as_of=AS_OF, engine="fake",
                         stop_after="clusters")
    assert state.engine == "fake"
    assert seen == {"config": CONFIG, "as_of": AS_OF, "release_inputs": False,
                    "stop_after": "clusters"}

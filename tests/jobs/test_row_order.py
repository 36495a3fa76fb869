"""The flag job's outputs are a function of the input's content, not of its row order."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.cpus import thread_limits
from ringfence.graph.masking import Masker
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import write_run
from ringfence.models.scoring import ModelScorer

KEY = "row-order-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=3000, seed=3)


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return df.sample(frac=1, random_state=seed).reset_index(drop=True)


def _run_files(tmp_path, name: str, frames, scorer: str | dict) -> dict[str, str]:
    """Hashes of the run's files; ``scorer`` a name, or the params of a fresh ModelScorer."""
    tables = load_tables(*frames)
    if isinstance(scorer, dict):
        scorer = ModelScorer(seed=0, params=scorer)
    with thread_limits(1):  # steadier on a busy machine; the result is the same
        result = run_flag(tables, scorer=scorer, seed=0, review_capacity=60,
                          masker=Masker(KEY.encode()))
    out = write_run(result, tmp_path / name, "csv")
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(out.iterdir()) if p.name != "run.json"}
    run = json.loads((out / "run.json").read_text())
    summary = {k: v for k, v in run["summary"].items() if k != "seconds"}
    hashes["run.json: summary, graph, model metrics"] = json.dumps(
        [summary, run["graph"], run["model"].get("cv_metrics")], sort_keys=True)
    return hashes


def _compare(tmp_path, platform, scorer: str | dict) -> dict[str, str]:
    p = platform
    frames = (p.accounts, p.identifiers, p.edges, p.enforcement)
    before = _run_files(tmp_path, "as-given", frames, scorer)
    shuffled = [_shuffled(df, seed) for seed, df in enumerate(frames, start=11)]
    # the shuffle moved rows of every table
    assert all(not s.equals(f) for s, f in zip(shuffled, frames))
    after = _run_files(tmp_path, "shuffled", shuffled, scorer)
    assert sorted(before) == sorted(after)
    assert {k: v for k, v in before.items() if after[k] != v} == {}
    return before


def test_shuffled_rows_give_identical_outputs_with_propagation(tmp_path, platform):
    files = _compare(tmp_path, platform, "propagation")
    assert {"scores.csv", "identities.csv", "links.csv", "clusters.csv",
            "evidence.csv"} <= set(files)


@pytest.mark.slow
def test_shuffled_rows_give_identical_outputs_with_the_model(tmp_path, platform):
    # the scorer "auto" makes (ModelScorer(seed=0)) with 60 boosting rounds instead of 300:
    # row order reaches the model through its features, folds and label rows, which do not
    # depend on the number of rounds; a fifth of the rounds is a fifth of the fits
    files = _compare(tmp_path, platform, {"max_iter": 60})
    assert "model (fitted" in files["run.json: summary, graph, model metrics"]


def test_scores_come_in_account_id_order(platform):
    p = platform
    tables = load_tables(_shuffled(p.accounts, 1), p.identifiers, p.edges, p.enforcement)
    result = run_flag(tables, scorer="propagation", review_capacity=30)
    ids = result.scores["account_id"].tolist()
    assert ids == sorted(ids)
    # the model reads account attributes by node: the table moved with the nodes
    assert tables.accounts["account_id"].tolist() == ids

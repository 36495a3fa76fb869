"""benchmarks/cv_reddit.py: the repeated folds that judge model changes without the test rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cv():
    spec = importlib.util.spec_from_file_location("cv_reddit", ROOT / "benchmarks" / "cv_reddit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _labels(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"account_id": [f"u{i:05d}" for i in range(n)],
                         "banned": (rng.random(n) < 0.1).astype(int),
                         "split": rng.choice(["train", "val", "test"], n, p=[0.4, 0.2, 0.4])})


def test_folds_never_hold_test_rows_and_keep_the_banned_share(cv):
    labels = _labels()
    fold = cv.outer_folds(labels, 5, repeat=0)
    test = (labels["split"] == "test").to_numpy()
    assert (fold[test] == -1).all() and (fold[~test] >= 0).all()
    banned = labels["banned"].to_numpy()
    per_fold = np.bincount(fold[~test], weights=banned[~test], minlength=5)
    assert per_fold.max() - per_fold.min() <= 1  # stratified


def test_folds_do_not_depend_on_row_order_and_repeats_differ(cv):
    labels = _labels()
    fold = pd.Series(cv.outer_folds(labels, 5, repeat=0), index=labels["account_id"])
    shuffled = labels.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = pd.Series(cv.outer_folds(shuffled, 5, repeat=0), index=shuffled["account_id"])
    assert again.loc[fold.index].equals(fold)
    other = pd.Series(cv.outer_folds(labels, 5, repeat=1), index=labels["account_id"])
    assert not other.equals(fold)


@pytest.mark.parametrize("args", [["--data", "/nonexistent"], ["--folds", "1"],
                                  ["--params", "{not json"]])
def test_bad_input_exits_2(cv, args, tmp_path, capsys):
    if args[0] != "--data":  # a dataset directory that exists, so the other checks are reached
        (tmp_path / "accounts.csv.gz").write_bytes(b"")
        args = ["--data", str(tmp_path), *args]
    assert cv.main(args) == 2
    assert "cv:" in capsys.readouterr().err


def test_docstring_examples_hold(cv):
    import doctest

    assert doctest.testmod(cv).failed == 0

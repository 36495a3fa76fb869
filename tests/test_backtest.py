"""Time-aware evaluation: what was known at a cut-off, and what happened after."""

from __future__ import annotations

import pandas as pd

from ringfence.graph import load_tables
from ringfence.jobs.cli import main
from ringfence.models.evaluate import time_split


def test_time_split_keeps_only_what_was_known():
    acc = pd.DataFrame({"account_id": ["a", "b", "c", "d"],
                        "created_at": ["2025-01-01", "2025-01-01", "2025-06-01", "2026-03-01"]})
    ids = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "kind": "device",
                        "value": ["x", "x", "x", "x"],
                        "seen_at": ["2025-02-01", "2025-02-01", "2026-02-01", "2026-03-02"]})
    enf = pd.DataFrame({"account_id": ["a", "b", "c"], "action": ["ban", "ban", "cleared"],
                        "at": ["2025-03-01", "2026-02-15", "2025-07-01"]})
    t = load_tables(acc, ids, None, enf)
    before, outcome = time_split(t, "2026-01-01")
    assert before.accounts["account_id"].tolist() == ["a", "b", "c"]      # d did not exist yet
    assert before.identifiers["account_id"].tolist() == ["a", "b"]        # c's use came later
    assert before.enforcement["account_id"].tolist() == ["a", "c"]        # b's ban came later
    # a was already banned: not in the outcome; b was banned afterwards: a positive
    assert outcome.set_index("account_id")["banned"].to_dict() == {"b": 1, "c": 0}


def test_backtest_command(tmp_path, capsys):
    from ringfence.graph.synth import generate_platform, write_platform
    write_platform(generate_platform(n_accounts=4000, seed=5), tmp_path, format="csv")
    args = ["backtest", "--cutoff", "2026-01-01", "--no-model", "--quiet"]
    for t in ("accounts", "identifiers", "edges", "enforcement"):
        args += [f"--{t}", str(tmp_path / f"{t}.csv.gz")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "known at 2026-01-01" in out and "banned afterwards" in out
    assert "ROC-AUC" in out
    assert main(args[:2] + ["not-a-date"] + args[3:]) == 2
    assert "--cutoff: not a date" in capsys.readouterr().err

"""models/evaluate.py: a time split keeps only what was known at the cut-off."""

from __future__ import annotations

import pandas as pd

from ringfence.graph import load_tables
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

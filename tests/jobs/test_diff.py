"""ringfence diff OLD NEW: queue, group and score changes between two runs."""

from __future__ import annotations

import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs.cli import main
from ringfence.jobs.diff import diff_runs, group_changes
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import read_table, write_run


def _events(old: dict[str, int], new: dict[str, int]) -> list[list]:
    o = pd.DataFrame({"account_id": list(old), "g": list(old.values())})
    n = pd.DataFrame({"account_id": list(new), "g": list(new.values())})
    out = group_changes(o, n, "g", "identity")
    return out[["change", "old_ids", "new_ids", "old_size", "new_size", "shared"]].values.tolist()


def test_group_events_by_members():
    old = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3, "f": 3, "g": 4, "h": 4, "i": 5, "j": 5,
           "k": 5, "l": 5, "m": -1}
    new = {"a": 10, "b": 10, "c": 10, "d": 10,          # 1 and 2 merged
           "e": 11, "f": 12,                            # 3 split in two
           "g": 4, "h": 4, "n": 4,                      # 4 kept, one member joined
           "i": 5, "j": 5, "k": 5, "l": 5,              # 5 unchanged: not listed
           "m": 13, "o": 13}                            # appeared (m was in no group)
    # and nothing of old 6 is left: it vanished
    old.update({"p": 6, "q": 6})
    assert _events(old, new) == [
        ["appeared", "", "13", 0, 2, 0],
        ["vanished", "6", "", 2, 0, 0],
        ["merged", "1 2", "10", 4, 4, 4],
        ["split", "3", "11 12", 2, 2, 2],
        ["kept", "4", "4", 2, 3, 2],
    ]


def test_one_account_moving_is_not_a_merge():
    old = {**{f"a{i}": 1 for i in range(10)}, **{f"b{i}": 2 for i in range(10)}}
    new = dict(old, a0=2)  # one of ten moved from 1 to 2
    assert [e[0] for e in _events(old, new)] == ["kept", "kept"]
    # a group reshuffled in both directions
    old = {"a": 1, "b": 1, "c": 2, "d": 2}
    new = {"a": 3, "c": 3, "b": 4, "d": 4}
    assert _events(old, new) == [["regrouped", "1 2", "3 4", 4, 4, 4]]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    p = generate_platform(n_accounts=3000, seed=3)
    d = tmp_path_factory.mktemp("diff")
    night1 = write_run(run_flag(load_tables(p.accounts, p.identifiers, p.edges, p.enforcement),
                                scorer="propagation", review_capacity=60), d / "night1")
    s1 = read_table(night1, "scores")
    queue = s1[s1["flagged"]].sort_values("rank")["account_id"].tolist()
    # night 2: the top three are banned, five new accounts share a new device and a card
    # (a device alone is weak evidence of one actor: households and second-hand devices)
    last = p.enforcement["at"].max()
    enf = pd.concat([p.enforcement, pd.DataFrame({"account_id": queue[:3], "action": "ban",
                                                  "at": last})], ignore_index=True)
    new = [f"zz_{i}" for i in range(5)]
    accounts = pd.concat([p.accounts, pd.DataFrame({"account_id": new})], ignore_index=True)
    identifiers = pd.concat([p.identifiers] + [pd.DataFrame(
        {"account_id": new, "kind": kind, "value": value, "seen_at": last})
        for kind, value in (("device", "new-device"), ("card", "new-card"))],
        ignore_index=True)
    night2 = write_run(run_flag(load_tables(accounts, identifiers, p.edges, enf),
                                scorer="propagation", review_capacity=60, previous=night1),
                       d / "night2")
    return night1, night2, queue, new


def test_diff_of_two_nights(two_runs):
    night1, night2, queue, new = two_runs
    diff = diff_runs(night1, night2)
    q = diff.queue_changes
    left = q[q["change"] == "left"]
    assert left[left["why"] == "banned"]["account_id"].tolist() == queue[:3]
    assert left["old_rank"].tolist()[:3] == [1, 2, 3]
    entered = q[q["change"] == "entered"]
    assert len(entered) == len(left)  # the capacity is fixed at 60
    assert diff.counts["queue"]["stayed"] == 60 - len(left)
    g = diff.group_changes
    appeared = g[(g["level"] == "identity") & (g["change"] == "appeared")]
    assert appeared["new_size"].tolist() == [5]
    s2 = read_table(night2, "scores").set_index("account_id")
    assert appeared["new_ids"].tolist() == [str(s2.loc[new[0], "identity_id"])]
    # the bans moved scores: accounts that entered the queue rose, and are listed
    sc = diff.score_changes
    rose = entered[entered["new_score"] - entered["old_score"] >= 0.01]["account_id"]
    assert len(rose) and set(rose) <= set(sc["account_id"])
    assert (sc["change"] - (sc["new_score"] - sc["old_score"])).abs().max() < 1e-12
    assert sc["change"].abs().is_monotonic_decreasing
    assert (sc["change"].abs() >= 0.01).all()


def test_cli_diff_prints_a_summary_and_writes_tables(two_runs, tmp_path, capsys):
    night1, night2, queue, _ = two_runs
    assert main(["diff", str(night1), str(night2), "--out", str(tmp_path / "d"),
                 "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "queue: " in out and " left, " in out
    assert f"#1     {queue[0]}  (banned)" in out
    assert "identity groups: 1 appeared" in out
    written = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert written == ["group_changes.csv", "queue_changes.csv", "score_changes.csv"]
    assert read_table(tmp_path / "d", "queue_changes")["account_id"].tolist()[:1] != []


def test_cli_diff_refuses_a_folder_that_is_not_a_run(two_runs, tmp_path, capsys):
    night1, _, _, _ = two_runs
    assert main(["diff", str(night1), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no run.json here" in err and "Traceback" not in err
    (tmp_path / "run.json").write_text("{}")
    assert main(["diff", str(tmp_path), str(night1)]) == 2
    assert "no scores.parquet or scores.csv" in capsys.readouterr().err

"""Three nights of the nightly loop through the command line (issue #15).

Night 1 flags a synthetic platform; night 2 appends new bans and new accounts
to the input files and runs with ``--previous`` night 1; night 3 records a
clearance, a confirmation and a lifted ban with ``ringfence decide`` and runs with
``--decisions`` and ``--previous`` night 2. Each night is checked: ids
carried over, statuses, the queue and ``ringfence diff``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ringfence.graph.synth import generate_platform
from ringfence.jobs.cli import main
from ringfence.jobs.runs import read_table

pytestmark = pytest.mark.slow

TABLES = ("accounts", "identifiers", "edges", "enforcement")
CAPACITY = 40


def _append(inputs: Path, name: str, rows: pd.DataFrame) -> None:
    """Append rows to an input file, as a nightly export would."""
    rows.to_csv(inputs / f"{name}.csv", mode="a", header=False, index=False)


def _flag(inputs: Path, out: Path, previous: Path | None = None, extra: list = ()) -> None:
    args = ["flag", *[a for n in TABLES for a in (f"--{n}", str(inputs / f"{n}.csv"))],
            "--out", str(out), "--seed", "0", "--threads", "1", "--quiet",
            "--review-capacity", str(CAPACITY), "--top", "0"]
    assert main(args + (["--previous", str(previous)] if previous else []) + list(extra)) == 0


def _diff(old: Path, new: Path, out: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--out", str(out)]) == 0
    return capsys.readouterr().out


def _record_decisions(log: Path, run: Path, queue: pd.DataFrame, lifted: str) -> list:
    """The night's reviews through ``ringfence decide``: the top of the queue is cleared, the
    next one confirmed, and one of yesterday's bans is lifted on appeal."""
    cleared, confirmed = queue["account_id"].iloc[0], queue["account_id"].iloc[1]
    for account, decision in ((cleared, "cleared"), (confirmed, "confirmed"),
                              (lifted, "lifted")):
        assert main(["decide", account, decision, "--reason", f"{decision} after review",
                     "--by", "ana", "--log", str(log), "--run", str(run)]) == 0
    return ["--decisions", str(log)]


def _columns(inputs: Path, name: str) -> list[str]:
    return pd.read_csv(inputs / f"{name}.csv", nrows=0).columns.tolist()


def _run(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def _kept_groups(before: pd.DataFrame, after: pd.DataFrame, column: str) -> tuple[int, int]:
    """Groups whose members are exactly the same on both nights: how many, and how many
    of those kept their id."""
    def members(s):
        g = s[s[column] >= 0]
        return g.groupby(column)["account_id"].apply(frozenset)
    old, new = members(before), members(after)
    by_members = {m: i for i, m in new.items()}
    same = [(i, by_members[m]) for i, m in old.items() if m in by_members]
    return len(same), sum(a == b for a, b in same)


def test_three_nights(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RINGFENCE_MASK_KEY", "nightly-test-key-0123456789")
    p = generate_platform(n_accounts=2000, seed=5)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in TABLES:
        getattr(p, name).to_csv(inputs / f"{name}.csv", index=False)
    runs = tmp_path / "runs"

    # ---- night 1
    _flag(inputs, runs / "night1")
    run1 = _run(runs / "night1")
    s1 = read_table(runs / "night1", "scores")
    q1 = read_table(runs / "night1", "queue")
    assert len(q1) == CAPACITY and q1["rank"].tolist() == list(range(1, CAPACITY + 1))
    assert (q1["status_vs_previous"] == "new").all()
    assert "previous" not in run1

    # ---- night 2: the reviewers banned ranks 2 and 3; six accounts opened on one new
    # device, each paying with the card of the one before (one actor)
    banned = q1["account_id"].iloc[1:3].tolist()
    _append(inputs, "enforcement", pd.DataFrame(
        {"account_id": banned, "action": "ban", "at": run1["as_of"], "reason": "fraud"},
        columns=_columns(inputs, "enforcement")).fillna(""))
    new = [f"acct_new_{i}" for i in range(6)]
    acc_cols = _columns(inputs, "accounts")
    _append(inputs, "accounts", pd.DataFrame({"account_id": new, "created_at": run1["as_of"]},
                                             columns=acc_cols))
    _append(inputs, "identifiers", pd.DataFrame(
        {"account_id": new + new[1:] + new[:-1],
         "kind": ["device"] * len(new) + ["card"] * (2 * len(new) - 2),
         "value": ["dev-new-night2"] * len(new) + [f"card-new-{i}" for i in range(5)] * 2,
         "seen_at": run1["as_of"]}, columns=_columns(inputs, "identifiers")))
    _flag(inputs, runs / "night2", previous=runs / "night1")
    run2 = _run(runs / "night2")
    s2 = read_table(runs / "night2", "scores")
    q2 = read_table(runs / "night2", "queue")
    assert run2["previous"]["run_id"] == run1["run_id"]
    # groups with the same members keep their ids (Leiden redraws some clusters when
    # accounts join: fewer clusters stay exactly the same than identities)
    for column, share in (("identity_id", 0.9), ("cluster_id", 0.5)):
        same, kept = _kept_groups(s1, s2, column)
        assert same > share * s1.loc[s1[column] >= 0, column].nunique() and kept == same
    by_id = s2.set_index("account_id")
    new_identity = by_id.loc[new, "identity_id"]
    assert new_identity.nunique() == 1
    assert new_identity.iloc[0] == run1["id_counters"]["identity"] + 1
    assert run2["id_counters"]["identity"] >= run1["id_counters"]["identity"] + 1
    # statuses: the banned two left the queue, the rest is still (or newly) queued
    assert (by_id.loc[banned, "status_vs_previous"] == "dropped").all()
    assert set(q2["status_vs_previous"]) <= {"new", "still_flagged", "rose", "fell"}
    stayed = set(q1["account_id"]) & set(q2["account_id"])
    assert len(stayed) >= CAPACITY // 2
    still = q2[q2["account_id"].isin(stayed)]
    assert (still["first_flagged_at"] == pd.Timestamp(run1["as_of"])).all()
    entered = q2[~q2["account_id"].isin(stayed)]
    assert (entered["status_vs_previous"] == "new").all()
    out = _diff(runs / "night1", runs / "night2", tmp_path / "diff12", capsys)
    changes = read_table(tmp_path / "diff12", "queue_changes")
    left = changes[changes["change"] == "left"]
    assert set(banned) <= set(left.loc[left["why"] == "banned", "account_id"])
    assert len(changes[changes["change"] == "entered"]) == len(entered)
    groups = read_table(tmp_path / "diff12", "group_changes")
    appeared = groups[(groups["level"] == "identity") & (groups["change"] == "appeared")]
    assert str(new_identity.iloc[0]) in appeared["new_ids"].tolist()
    assert f"{len(entered)} entered" in out

    # ---- night 3: the night's decisions (a clearance, a confirmation, a lifted ban), then
    # --previous night 2
    extra = _record_decisions(tmp_path / "decisions.csv", runs / "night2", q2, banned[0])
    _flag(inputs, runs / "night3", previous=runs / "night2", extra=extra)
    run3 = _run(runs / "night3")
    s3 = read_table(runs / "night3", "scores")
    q3 = read_table(runs / "night3", "queue")
    cleared, confirmed, lifted = q2["account_id"].iloc[0], q2["account_id"].iloc[1], banned[0]
    by3 = s3.set_index("account_id")
    assert cleared not in set(q3["account_id"])
    assert by3.loc[cleared, "status_vs_previous"] == "dropped"
    assert by3.loc[cleared, "cleared"] and by3.loc[cleared, "decision"] == "cleared"
    # a confirmation makes a reviewed offender: out of the queue, a seed like a ban
    assert confirmed not in set(q3["account_id"]) and by3.loc[confirmed, "banned"]
    assert by3.loc[confirmed, "decision"] == "confirmed" and by3.loc[confirmed, "decided_by"] == "ana"
    # a lifted ban: no longer banned, no longer a seed, ranked again like anyone else
    assert not by3.loc[lifted, "banned"] and not by3.loc[lifted, "cleared"]
    assert by3.loc[lifted, "decision"] == "lifted" and not pd.isna(by3.loc[lifted, "rank"])
    assert s2.set_index("account_id").loc[lifted, "banned"]
    assert run3["inputs"]["decisions"]["rows"] == 3
    for column in ("identity_id", "cluster_id"):
        same, kept = _kept_groups(s2, s3, column)
        assert kept == same > 0
    assert run3["id_counters"]["identity"] >= run2["id_counters"]["identity"]
    assert run3["id_counters"]["cluster"] >= run2["id_counters"]["cluster"]
    # accounts queued all three nights were first flagged on night 1
    all3 = set(q1["account_id"]) & set(q2["account_id"]) & set(q3["account_id"])
    assert all3
    ffa = q3.set_index("account_id").loc[sorted(all3), "first_flagged_at"]
    assert (ffa == pd.Timestamp(run1["as_of"])).all()
    _diff(runs / "night2", runs / "night3", tmp_path / "diff23", capsys)
    changes = read_table(tmp_path / "diff23", "queue_changes")
    why = changes.set_index("account_id")["why"]
    assert why[cleared] == "cleared" and why[confirmed] == "banned"

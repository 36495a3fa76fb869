"""flag --previous: ids carried over, statuses against the previous run, the queue output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.synth import generate_platform
from ringfence.jobs.cli import main
from ringfence.jobs.continuity import Previous, add_status
from ringfence.jobs.flag import run_flag
from ringfence.jobs.runs import read_run, write_run


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=3000, seed=3)


def _tables(p, accounts=None, identifiers=None, enforcement=None):
    return load_tables(p.accounts if accounts is None else accounts,
                       p.identifiers if identifiers is None else identifiers, p.edges,
                       p.enforcement if enforcement is None else enforcement)


@pytest.fixture(scope="module")
def night1(platform, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "night1"
    result = run_flag(_tables(platform), scorer="propagation", review_capacity=60)
    write_run(result, out)
    return result, out


def test_unchanged_input_keeps_every_identity_and_cluster_id(platform, night1):
    first, out = night1
    again = run_flag(_tables(platform), scorer="propagation", review_capacity=60, previous=out)
    a, b = first.scores, again.scores
    assert (a["identity_id"] == b["identity_id"]).all()
    assert (a["cluster_id"] == b["cluster_id"]).all()
    assert sorted(first.identities["identity_id"]) == sorted(again.identities["identity_id"])
    assert sorted(first.clusters["cluster_id"]) == sorted(again.clusters["cluster_id"])
    assert again.run["id_counters"] == first.run["id_counters"]
    assert again.run["previous"]["run_id"] == first.run["run_id"]
    status = b.loc[b["flagged"], "status_vs_previous"]
    assert (status == "still_flagged").all() and len(status) == 60
    assert (b.loc[~b["flagged"], "status_vs_previous"] == "not_flagged").all()
    assert (b.loc[b["flagged"], "first_flagged_at"] == pd.Timestamp(first.run["as_of"])).all()
    np.testing.assert_allclose(b["previous_score"], a["score"])


def test_without_previous_ids_are_by_size_and_flagged_accounts_are_new(night1):
    first, _ = night1
    sizes = first.identities.set_index("identity_id")["size"].sort_index()
    assert sizes.index.tolist() == list(range(len(sizes)))
    assert sizes.is_monotonic_decreasing
    s = first.scores
    assert (s.loc[s["flagged"], "status_vs_previous"] == "new").all()
    assert (s.loc[~s["flagged"], "status_vs_previous"] == "not_flagged").all()
    assert s["previous_score"].isna().all()
    assert first.run["id_counters"] == {"identity": len(sizes) - 1,
                                        "cluster": int(s["cluster_id"].max())}


def test_ids_last_when_a_new_large_group_renumbers_the_rest(platform, night1):
    first, out = night1
    # nineteen new accounts, each sharing a device and a card with the next (one actor's
    # chain): tonight the largest identity, so numbering by size would give it id 0 and
    # shift every other identity by one
    new = [f"zz_new_{i:02d}" for i in range(19)]
    accounts = pd.concat([platform.accounts, pd.DataFrame({"account_id": new})],
                         ignore_index=True)
    left, right = new[:-1], new[1:]
    chain = pd.DataFrame({
        "account_id": left + right + left + right,
        "kind": ["device"] * (2 * len(left)) + ["card"] * (2 * len(left)),
        "value": [f"dev-chain-{i}" for i in range(len(left))] * 2
        + [f"card-chain-{i}" for i in range(len(left))] * 2,
        "seen_at": platform.identifiers["seen_at"].max()})
    identifiers = pd.concat([platform.identifiers, chain], ignore_index=True)
    tonight = run_flag(_tables(platform, accounts, identifiers), scorer="propagation",
                       review_capacity=60, previous=out)
    plain = run_flag(_tables(platform, accounts, identifiers), scorer="propagation",
                     review_capacity=60)
    s = tonight.scores.set_index("account_id")
    old = first.scores.set_index("account_id")
    assert (plain.scores.set_index("account_id").loc[new, "identity_id"] == 0).all()
    # the linker re-estimates its parameters on tonight's data (a new actor's card pairs
    # move m a little), so a few small identities may regroup; every identity whose members
    # are the same tonight keeps its id, whatever its size rank
    def groups(scores):
        linked = scores[scores["identity_id"] >= 0]
        return {frozenset(v): k for k, v in linked.groupby("identity_id").groups.items()}
    before, after = groups(old), groups(s.loc[old.index])
    same = set(before) & set(after)
    assert len(same) >= 0.8 * len(before)
    assert all(before[m] == after[m] for m in same)
    largest = first.run["id_counters"]["identity"]
    assert (s.loc[new, "identity_id"] == largest + 1).all()
    assert tonight.run["id_counters"]["identity"] == largest + 1
    assert (s.loc[new, "status_vs_previous"].isin(["new", "not_flagged"])).all()


def test_status_against_the_previous_run():
    now = pd.DataFrame({"account_id": list("abcdefg"),
                        "score": [0.90, 0.60, 0.55, 0.30, 0.70, 0.10, 0.80],
                        "flagged": [True, True, True, False, True, False, True]})
    before = pd.DataFrame({
        "account_id": list("abcdef"), "score": [0.80, 0.70, 0.50, 0.60, 0.40, 0.12],
        "flagged": [True, True, True, True, False, False],
        "first_flagged_at": pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-02",
                                            "2026-01-01", "2025-12-01", None], utc=True)})
    prev = Previous("old", {"as_of": "2026-01-03T00:00:00+00:00"}, before)
    out = add_status(now, prev, pd.Timestamp("2026-01-04", tz="UTC"), 0.05)
    # a +0.10 rose, b -0.10 fell, c +0.05 (not more than the tolerance) still flagged,
    # d left the queue, e entered it again, f never flagged, g is a new account
    assert out["status_vs_previous"].tolist() == ["rose", "fell", "still_flagged", "dropped",
                                                  "new", "not_flagged", "new"]
    assert out["previous_score"].tolist()[:6] == [0.80, 0.70, 0.50, 0.60, 0.40, 0.12]
    assert np.isnan(out["previous_score"].iloc[6])
    # the first time ever flagged is kept, also for d (dropped) and e (flagged again)
    days = out["first_flagged_at"].dt.strftime("%Y-%m-%d").fillna("").tolist()
    assert days == ["2026-01-01", "2026-01-03", "2026-01-02", "2026-01-01", "2025-12-01",
                    "", "2026-01-04"]


def test_queue_output_is_the_flagged_accounts_in_rank_order(night1, tmp_path):
    first, out = night1
    queue = read_run(out).table("queue")
    assert queue["rank"].tolist() == list(range(1, 61))
    flagged = first.scores[first.scores["flagged"]]
    assert set(queue["account_id"]) == set(flagged["account_id"])
    assert list(queue.columns) == ["rank", "account_id", "score", "status_vs_previous",
                                   "previous_score", "first_flagged_at", "identity_id",
                                   "cluster_id", "decision", "decided_at", "decided_by",
                                   "reasons"]
    assert queue["score"].is_monotonic_decreasing
    csv = write_run(first, tmp_path / "csv", "csv")
    back = read_run(csv).table("queue")
    pd.testing.assert_frame_equal(back.drop(columns="first_flagged_at"),
                                  queue.drop(columns="first_flagged_at"), check_dtype=False)
    assert (back["first_flagged_at"] == queue["first_flagged_at"]).all()


def test_queue_csv_escapes_formulas(tmp_path):
    tables = load_tables(
        pd.DataFrame({"account_id": ["=HYPERLINK(1)", "b", "c"]}),
        identifiers=pd.DataFrame({"account_id": ["=HYPERLINK(1)", "b", "c"], "kind": "device",
                                  "value": "d1"}),
        enforcement=pd.DataFrame({"account_id": ["b"], "action": ["ban"],
                                  "at": ["2026-01-01"]}))
    out = write_run(run_flag(tables, scorer="propagation", review_capacity=2), tmp_path / "r",
                    "csv")
    text = (out / "queue.csv").read_text()
    assert "\n1,'=HYPERLINK(1)," in text
    assert "=HYPERLINK(1)" in read_run(out).table("queue")["account_id"].tolist()


def test_cli_previous_must_be_a_run(platform, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("accounts", "identifiers", "edges", "enforcement"):
        getattr(platform, name).head(200 if name == "accounts" else 0).to_csv(
            d / f"{name}.csv", index=False)
    (tmp_path / "notarun").mkdir()
    code = main(["flag", *[a for n in ("accounts", "identifiers", "enforcement")
                           for a in (f"--{n}", str(d / f"{n}.csv"))],
                 "--out", str(tmp_path / "out"), "--previous", str(tmp_path / "notarun"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "notarun: no run.json here" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_run_json_records_run_id_previous_and_counters(night1, platform, tmp_path):
    first, out = night1
    again = run_flag(_tables(platform), scorer="propagation", review_capacity=60,
                     previous=read_run(out))
    path = write_run(again, tmp_path / "n2")
    run = json.loads((path / "run.json").read_text())
    assert len(run["run_id"]) == 32 and run["run_id"] != first.run["run_id"]
    assert run["previous"] == {"path": str(out.resolve()), "run_id": first.run["run_id"],
                               "as_of": first.run["as_of"]}
    assert run["summary"]["vs_previous"] == "60 still_flagged"
    assert "queue.parquet" in run["outputs"].values()

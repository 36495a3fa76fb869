"""Decisions in force: lifted bans, clearances and confirmations change what a run does."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.evidence import evidence_paths
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.tables import InputError, InputWarning
from ringfence.models.scoring import eligible_nodes
from ringfence.models.training import labelled_nodes

# a chain a - b - c - d - e, each pair sharing its own device: the only way risk travels
ACCOUNTS = ["a", "b", "c", "d", "e"]
IDENTIFIERS = pd.DataFrame({"account_id": ["a", "b", "b", "c", "c", "d", "d", "e"],
                            "kind": "device",
                            "value": ["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"],
                            "seen_at": "2026-03-01"})
BAN_A = ("a", "ban", "2026-01-01", "fraud")


def _tables(enforcement, decisions=None):
    enf = pd.DataFrame(enforcement, columns=["account_id", "action", "at", "reason"])
    log = None if decisions is None else pd.DataFrame(
        decisions, columns=["at", "account_id", "decision", "by", "reason"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return load_tables(pd.DataFrame({"account_id": ACCOUNTS}), identifiers=IDENTIFIERS,
                           enforcement=enf, decisions=log)


def _state(enforcement, decisions=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no seeds" once a ban is lifted
        return run_pipeline(_tables(enforcement, decisions))


def _raw(state) -> pd.Series:
    return pd.Series(state.propagation["propagation_raw"].to_numpy(), index=ACCOUNTS)


def _status(state, account: str) -> dict:
    return state.graph.status.iloc[ACCOUNTS.index(account)].to_dict()


def _labels(state) -> dict[str, int]:
    nodes, y = labelled_nodes(state.graph)
    return {ACCOUNTS[n]: int(v) for n, v in zip(nodes, y)}


def test_lifted_ban_is_no_seed_and_no_label_and_its_neighbours_lose_risk():
    before = _state([BAN_A])
    after = _state([BAN_A], [("2026-02-01T09:00:00Z", "a", "lifted", "ana", "appeal won")])
    assert _raw(before)["b"] > 0.05
    st = _status(after, "a")
    assert (st["banned"], st["lifted"], st["cleared"], st["seed_weight"]) == (False, True,
                                                                              False, 0.0)
    assert _raw(after)["b"] == 0.0  # the only seed is gone
    assert "a" in _labels(before) and "a" not in _labels(after)  # neither label
    # back to an ordinary account: it may be queued again
    assert eligible_nodes(after)[0] and not eligible_nodes(before)[0]


def test_lifted_in_the_enforcement_table_and_a_later_ban_after_it():
    lifted = _state([BAN_A, ("a", "lifted", "2026-02-01", "expired")])
    assert not _status(lifted, "a")["banned"] and _status(lifted, "a")["lifted"]
    banned_again = _state([BAN_A, ("a", "lifted", "2026-02-01", "expired"),
                           ("a", "ban", "2026-03-01", "fraud again")])
    st = _status(banned_again, "a")
    assert st["banned"] and not st["lifted"] and st["ban_reason"] == "fraud again"


def test_cleared_blocks_propagation_and_is_a_negative_label():
    before = _state([BAN_A])
    after = _state([BAN_A], [("2026-02-01", "c", "cleared", "ana", "known customer")])
    assert _raw(before)["d"] > 0 and _raw(before)["e"] > 0
    assert _status(after, "c")["cleared"]
    # c passes no risk on: d and e are reached only through it
    assert _raw(after)["d"] == 0.0 and _raw(after)["e"] == 0.0
    assert _raw(after)["b"] > 0.05  # upstream of c, still reached
    assert _labels(after) == {"a": 1, "c": 0} and _labels(before) == {"a": 1}
    assert not eligible_nodes(after)[ACCOUNTS.index("c")]


def test_confirmed_is_a_seed_and_a_positive_label():
    before = _state([BAN_A])
    after = _state([BAN_A], [("2026-02-01", "e", "confirmed", "ana", "same ring")])
    st = _status(after, "e")
    assert st["banned"] and st["confirmed"] and st["seed_weight"] > 0
    assert st["ban_reason"] == ""  # the reviewer's text stays in the log
    assert _raw(after)["d"] > 1.5 * _raw(before)["d"]  # d now sits next to a seed
    assert _labels(after) == {"a": 1, "e": 1}
    assert not eligible_nodes(after)[ACCOUNTS.index("e")]
    texts = [p["text"] for p in evidence_paths(after.graph, [ACCOUNTS.index("d")])[3]]
    assert any(t.endswith("e, confirmed offender 2026-02-01") for t in texts), texts


def test_the_latest_row_per_account_is_in_force_whatever_its_source():
    # a ban exported after a reviewer's clearance stands ...
    st = _status(_state([BAN_A, ("c", "ban", "2026-03-01", "fraud")],
                        [("2026-02-01", "c", "cleared", "ana", "looked fine")]), "c")
    assert st["banned"] and not st["cleared"]
    # ... and a clearance after a ban lifts it; at equal times the log wins
    st = _status(_state([BAN_A], [("2026-01-01", "a", "cleared", "ana", "mistaken ban")]), "a")
    assert st["cleared"] and not st["banned"]
    # between logged decisions, time decides, not the order of lines
    st = _status(_state([BAN_A], [("2026-03-01", "a", "confirmed", "bo", "checked again"),
                                  ("2026-02-01", "a", "lifted", "ana", "appeal")]), "a")
    assert st["banned"] and st["confirmed"]


def test_decision_times_do_not_move_the_as_of_time():
    # reviewers decide long after the data's newest event: ages must not change with that
    plain = build_graph(_tables([BAN_A]))
    logged = build_graph(_tables([BAN_A], [("2026-11-30", "e", "cleared", "ana", "ok")]))
    assert plain.as_of == logged.as_of == pd.Timestamp("2026-03-01", tz="UTC")
    assert logged.status["cleared"].tolist() == [False, False, False, False, True]


def test_an_undated_clearance_applies_and_is_warned_about(tmp_path):
    enf = tmp_path / "enforcement.csv"
    enf.write_text("account_id,action,at,reason\n"
                   "a,ban,2026-01-01,fraud\n"
                   "a,cleared,,reviewed\n"
                   "b,cleared,,no ban: nothing to warn about\n")
    with pytest.warns(InputWarning) as caught:
        t = load_tables(pd.DataFrame({"account_id": ACCOUNTS}), identifiers=IDENTIFIERS,
                        enforcement=enf)
    text = [str(w.message) for w in caught if "undated" in str(w.message)]
    assert len(text) == 1 and t.warnings == text
    assert str(enf) in text[0] and "line 3: account_id='a'" in text[0]
    assert "1 undated" in text[0] and "account_id='b'" not in text[0]
    st = build_graph(t).status
    assert st["cleared"].tolist()[:2] == [True, True] and not st["banned"].any()


@pytest.mark.parametrize("row, message", [
    (("2026-02-01", "a", "forgiven", "ana", "x"), "unknown decision; expected one of cleared, "
                                                 "confirmed, lifted"),
    (("", "a", "cleared", "ana", "x"), "column 'at': no time: every decision says when"),
    (("2026-02-01", "zz", "cleared", "ana", "x"), "references an account_id that is not in"),
    (("2026-02-01", "a", "cleared", "ana\x1b[2J", "x"), "column 'by': control or invisible"),
    (("2026-02-01", "a", "cleared", "ana", " "), "column 'reason': empty: every decision says"),
])
def test_bad_decisions_are_refused_with_the_row(row, message):
    with pytest.raises(InputError) as e:
        _tables([BAN_A], [row])
    assert message in str(e.value)
    assert "decisions (DataFrame)" in str(e.value) and "row 0:" in str(e.value)


def test_a_log_without_the_header_columns_is_refused(tmp_path):
    log = tmp_path / "decisions.csv"
    log.write_text("account_id,decision\na,cleared\n")
    with pytest.raises(InputError) as e:
        load_tables(pd.DataFrame({"account_id": ACCOUNTS}), identifiers=IDENTIFIERS,
                    decisions=log)
    assert f"{log}, column 'at': missing required column" in str(e.value)
    assert np.isin(["by", "reason"], [p.column for p in e.value.problems]).all()

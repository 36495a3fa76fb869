"""The sync state and its diff, without a server: what an incremental sync would send."""

from __future__ import annotations

import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.neo4j.incremental import SyncState, _diff, sync_state
from ringfence.graph.neo4j.rows import _delete, _prepare
from ringfence.graph.synth import generate_platform


@pytest.fixture(scope="module")
def run():
    p = generate_platform(n_accounts=300, seed=3)
    tables = load_tables(p.accounts, identifiers=p.identifiers, edges=p.edges,
                         enforcement=p.enforcement)
    scores = pd.DataFrame({"account_id": tables.accounts["account_id"], "score": 0.5,
                           "cluster_id": -1})
    return tables, {"scores": scores, "links": pd.DataFrame(), "clusters": pd.DataFrame()}


def _state(tables, outputs, run_id="r1"):
    return sync_state(_prepare(tables, outputs, None, run_id), run_id)


@pytest.mark.slow
def test_a_new_column_resends_its_step_and_deletes_nothing(run, tmp_path):
    tables, outputs = run
    old = _state(tables, outputs)
    wider = load_tables(tables.accounts.assign(tier="gold"), identifiers=tables.identifiers,
                        edges=tables.edges, enforcement=tables.enforcement)
    new = _state(wider, outputs, "r2")
    send, gone = _diff(new, old)
    sent = new.table.loc[send, "step"].astype(str).value_counts().to_dict()
    assert sent == {"accounts": 300} and len(gone) == 0
    # the run stamp alone changes nothing
    send, gone = _diff(_state(tables, outputs, "r3"), old)
    assert not send.any() and len(gone) == 0
    # and the state survives its file
    old.write(tmp_path / "s.parquet")
    back = SyncState.read(tmp_path / "s.parquet")
    assert back.digest == old.digest and back.run_id == "r1"
    assert back.table["step"].astype(str).tolist() == old.table["step"].astype(str).tolist()
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="cannot read the sync state"):
        SyncState.read(tmp_path / "bad.parquet")


@pytest.mark.slow
def test_a_whole_kind_gone_is_deleted_by_key(run):
    tables, outputs = run
    old = _state(tables, outputs)
    idf = tables.identifiers[tables.identifiers["kind"].astype(str) != "phone"]
    edf = tables.edges[tables.edges["kind"].astype(str) != "message"]
    fewer = load_tables(tables.accounts, identifiers=idf, edges=edf,
                        enforcement=tables.enforcement)
    new = _state(fewer, outputs, "r2")
    send, gone = _diff(new, old)
    steps = gone["step"].astype(str).value_counts().to_dict()
    phones = tables.identifiers[tables.identifiers["kind"].astype(str) == "phone"]
    assert steps["identifiers:Phone"] == phones["value"].nunique()
    assert steps["uses:Phone"] == len(phones[["account_id", "value"]].drop_duplicates())
    assert steps["edges:MESSAGE"] == int((tables.edges["kind"].astype(str) == "message").sum())
    # identifiers that other kinds' removal touched nothing else: only n_accounts-free rows
    assert set(new.table.loc[send, "step"].astype(str)) <= {"edges:TRANSFER"}
    for name in steps:                       # every gone step has its delete query and keys
        query, fields = _delete(name)
        part = gone[gone["step"].astype(str) == name]
        assert part[list(fields)].notna().all().all(), name
        assert query.startswith("UNWIND $rows AS row MATCH ")

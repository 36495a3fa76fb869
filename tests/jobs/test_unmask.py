"""ringfence unmask: the key holder resolves a mask from the run's inputs, audited."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from ringfence.graph.masking import MASK_ENV, Masker
from ringfence.jobs.cli import main
from ringfence.jobs.runs import read_table

# two rings around banned accounts: a-b-c share a phone, d-e a card
IDENTIFIERS = [("a", "phone", "+33 6 12 34 56 78"), ("b", "phone", "+33 6 12 34 56 78"),
               ("c", "phone", "+33 6 12 34 56 78"), ("c", "device", "dev-1"),
               ("d", "card", "4111-1111"), ("e", "card", "4111-1111"), ("e", "device", "dev-2"),
               ("f", "device", "dev-2")]


@pytest.fixture()
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(MASK_ENV, raising=False)
    assert main(["init"]) == 0
    d = tmp_path / "inputs"
    d.mkdir()
    pd.DataFrame({"account_id": list("abcdef")}).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame(IDENTIFIERS, columns=["account_id", "kind", "value"]).to_csv(
        d / "identifiers.csv", index=False)
    pd.DataFrame({"account_id": ["a", "d"], "action": "ban", "at": "2026-01-01"}).to_csv(
        d / "enforcement.csv", index=False)
    out = tmp_path / "flags"
    assert main(["flag", "--accounts", str(d / "accounts.csv"),
                 "--identifiers", str(d / "identifiers.csv"),
                 "--enforcement", str(d / "enforcement.csv"), "--out", str(out),
                 "--no-model", "--quiet", "--format", "csv"]) == 0
    return out


def _mask(run_dir, kind: str) -> str:
    links = read_table(run_dir, "links")
    return links.loc[links["top_kind"] == kind, "top_identifier"].iloc[0]


def _audit(tmp_path) -> list[dict]:
    path = tmp_path / "config" / "ringfence" / "unmask-audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_unmask_prints_the_value_and_audits_who_and_when(run_dir, tmp_path, capsys):
    capsys.readouterr()
    mask = _mask(run_dir, "phone")
    assert mask == Masker().mask("phone", "+33 6 12 34 56 78")
    assert main(["unmask", mask, "--run", str(run_dir)]) == 0
    assert capsys.readouterr().out == "phone\t+33 6 12 34 56 78\t3 accounts\n"
    (entry,) = _audit(tmp_path)
    assert entry["mask"] == mask and entry["matches"] == 1
    assert entry["run"] == str(run_dir.resolve()) and entry["who"]
    assert pd.Timestamp(entry["when"]) <= pd.Timestamp.now(tz="UTC")
    assert "+33" not in json.dumps(entry)  # never the value


def test_unmask_narrows_by_account_and_audits_where_told(run_dir, tmp_path, capsys):
    mask = _mask(run_dir, "card")
    audit = tmp_path / "team-audit.jsonl"
    assert main(["unmask", mask, "--run", str(run_dir), "--account", "e",
                 "--audit", str(audit)]) == 0
    assert capsys.readouterr().out.endswith("card\t4111-1111\t2 accounts\n")
    assert main(["unmask", mask, "--run", str(run_dir), "--account", "a",
                 "--audit", str(audit)]) == 2
    assert "no identifier of the run's inputs has this mask among those of account 'a'" \
        in capsys.readouterr().err
    assert [e["matches"] for e in map(json.loads, audit.read_text().splitlines())] == [1, 0]


def test_unmask_refuses_without_the_runs_key_or_its_inputs(run_dir, tmp_path, capsys,
                                                            monkeypatch):
    mask = _mask(run_dir, "phone")
    capsys.readouterr()
    assert main(["unmask", "phone:12", "--run", str(run_dir)]) == 2
    assert "not a mask" in capsys.readouterr().err
    # another key
    monkeypatch.setenv(MASK_ENV, "someone else's key")
    assert main(["unmask", mask, "--run", str(run_dir)]) == 2
    assert "the run used another mask key" in capsys.readouterr().err
    # no key at all
    monkeypatch.delenv(MASK_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert main(["unmask", mask, "--run", str(run_dir)]) == 2
    assert "no mask key here" in capsys.readouterr().err
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # the inputs are gone
    shutil.move(tmp_path / "inputs", tmp_path / "moved")
    assert main(["unmask", mask, "--run", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "identifiers input" in err or "is not a file any more" in err
    assert "Traceback" not in err
    # nothing was resolved, so nothing was audited
    assert not (tmp_path / "config" / "ringfence" / "unmask-audit.jsonl").exists()


def test_nothing_is_shown_when_the_audit_cannot_be_written(run_dir, tmp_path, capsys):
    audit = tmp_path / "audit-dir"
    audit.mkdir()
    capsys.readouterr()
    assert main(["unmask", _mask(run_dir, "phone"), "--run", str(run_dir),
                 "--audit", str(audit)]) == 2
    captured = capsys.readouterr()
    assert "+33" not in captured.out + captured.err
    assert "cannot write the audit line" in captured.err

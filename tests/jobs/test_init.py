"""ringfence init: one mask key per user, so masks last across runs."""

from __future__ import annotations

import stat

import pytest

from ringfence.graph.masking import MASK_ENV, Masker, mask_key_path
from ringfence.jobs.cli import main
from ringfence.jobs.flag import run_flag


@pytest.fixture()
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(MASK_ENV, raising=False)
    return tmp_path / "config"


def test_init_writes_a_private_key_once(config_home, capsys):
    assert not Masker().persistent
    assert main(["init"]) == 0
    path = config_home / "ringfence" / "mask.key"
    assert mask_key_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert len(key.strip()) == 64
    out = capsys.readouterr().out
    assert key.strip().decode() not in out and "fingerprint" in out
    masker = Masker()
    assert masker.persistent and masker.source == "key file"
    # a second init keeps the key earlier runs used
    assert main(["init"]) == 2
    assert "exists already" in capsys.readouterr().err and path.read_bytes() == key
    assert main(["init", "--force"]) == 0
    assert path.read_bytes() != key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Masker().fingerprint() != masker.fingerprint()


def test_the_environment_wins_over_the_key_file(config_home, monkeypatch):
    assert main(["init"]) == 0
    monkeypatch.setenv(MASK_ENV, "from-env")
    m = Masker()
    assert m.source == "environment" and m.fingerprint() == Masker("from-env").fingerprint()


@pytest.mark.slow
def test_masks_are_identical_across_runs_with_the_key_file(config_home, tables):
    def masks():
        result = run_flag(tables, scorer="propagation", review_capacity=30)
        return result.links["top_identifier"], result.run["masking"]

    first, rec = masks()
    assert rec["persistent_key"] is False and rec["key_source"] == "random"
    again, _ = masks()
    assert (first != again).mean() > 0.9  # random per-run keys: nothing lasts
    assert main(["init"]) == 0
    one, rec = masks()
    two, _ = masks()
    assert rec == {"persistent_key": True, "key_source": "key file",
                   "key_fingerprint": Masker().fingerprint()}
    assert len(one) > 100 and one.tolist() == two.tolist()
    assert (one != first).mean() > 0.9

"""graph/config.py: bad settings are clear errors naming the file and the key; kind mappings merge over the defaults."""

from __future__ import annotations

import pytest

from ringfence.graph.config import ConfigError, load_config


@pytest.mark.parametrize("settings,message", [
    ({"link_threshold": 0}, "link_threshold must be a positive number"),
    ({"link_threshold": "high"}, "link_threshold must be a positive number"),
    ({"restart": 1.5}, "restart must be a number between 0 and 1 (exclusive)"),
    ({"share_limits": {"ip": 1}}, "share_limits['ip'] must be an integer >= 2"),
    ({"kind_weights": {"device": -1}}, "kind_weights['device'] must be a non-negative number"),
    ({"max_identity_size": 1}, "max_identity_size must be an integer >= 2"),
    ({"cluster_method": "girvan"}, "cluster_method must be 'leiden' or 'louvain'"),
    ({"identifier_half_life_days": 0}, "identifier_half_life_days must be a positive"),
    ({"link_treshold": 0.5}, "unknown setting(s): 'link_treshold' (did you mean 'link_threshold'?)"),
])
def test_bad_config_values(tmp_path, settings, message):
    import yaml
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value)
    assert message in str(e.value)


def test_config_file_merges_kind_mappings(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("kind_weights: {ip: 0.1}\nshare_limits: {ip: 80}\n")
    cfg = load_config(path)
    assert cfg.kind_weight("ip") == 0.1 and cfg.kind_weight("device") == 1.0
    assert cfg.share_limit("ip") == 80 and cfg.share_limit("card") == 10
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("text,message", [
    ("share_limits: {devices: 2}\n",
     "line 1: share_limits: unknown kind 'devices' (did you mean 'device'?)"),
    ("kind_weights:\n  ip: 0.2\n  emial: 0.5\n",
     "line 3: kind_weights: unknown kind 'emial' (did you mean 'email'?)"),
    ("edge_kind_weights:\n  transfers: 2\n",
     "line 2: edge_kind_weights: unknown kind 'transfers' (did you mean 'transfer'?)"),
    ("kind_weights: {Device: 1}\n",
     "line 1: kind_weights: 'Device' is not a kind (kinds are lower-case tokens"),
    ("link_threshold: 0.5\nseed: 1\nlink_threshold: 0.9\n",
     "line 3: duplicate key 'link_threshold' (first given on line 1)"),
    ("share_limits:\n  ip: 40\n  ip: 60\n",
     "line 3: duplicate key 'ip' (first given on line 2)"),
])
def test_misspelt_kinds_and_duplicate_keys_are_refused(tmp_path, text, message):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert f"{path}, {message}" in str(e.value)


def test_kinds_of_ones_own_are_kept_and_mappings_are_checked_too(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("kind_weights: {device_id: 0.9, ipv6: 0.2, fax: 0.1}\n")
    assert load_config(path).kind_weight("device_id") == 0.9
    with pytest.raises(ConfigError, match="unknown kind 'phones' .did you mean 'phone'"):
        load_config({"share_limits": {"phones": 3}})


def test_kinds_the_data_never_uses_are_noted():
    from ringfence.graph.config import GraphConfig
    cfg = load_config({"share_limits": {"fax": 5, "ip": 50}, "kind_weights": {"ip": 0.1},
                       "edge_kind_weights": {"gift": 2.0}})
    notes = cfg.unused_kind_notes(identifier_kinds=["device", "email"], edge_kinds=["transfer"])
    assert notes == [
        "config kind_weights: kind 'ip' does not occur in the identifiers' kind column (0 rows); "
        "the setting has no effect",
        "config share_limits: kind 'fax' does not occur in the identifiers' kind column (0 rows); "
        "the setting has no effect",
        "config edge_kind_weights: kind 'gift' does not occur in the edges' kind column (0 rows); "
        "the setting has no effect"]
    assert GraphConfig().unused_kind_notes([], []) == []   # defaults are never noted


def test_the_run_notes_a_kind_the_data_never_uses():
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.tables import example_tables
    tables = example_tables()
    config = load_config({"share_limits": {"fax": 5}})
    for _ in range(2):   # noted once, however often the pipeline runs
        run_pipeline(tables, config, stop_after="build")
    assert [n for n in tables.notes if n.startswith("config")] == [
        "config share_limits: kind 'fax' does not occur in the identifiers' kind column (0 rows); "
        "the setting has no effect"]

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

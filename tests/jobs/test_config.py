"""jobs/config.py: the flag job's settings, validated once, from Python, YAML or the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from ringfence.graph.config import DEFAULT_KIND_WEIGHTS, DEFAULT_SHARE_LIMITS, GraphConfig
from ringfence.graph.params import ConfigError
from ringfence.jobs.config import JobConfig, default_review_capacity


@pytest.mark.parametrize("settings, message", [
    ({"review_capacity": 0}, "review_capacity must be an integer >= 1 or None, got 0"),
    ({"review_capacity": 2.0}, "review_capacity must be an integer >= 1 or None, got 2.0"),
    ({"threshold": 1.5}, "threshold must be a number between 0 and 1 or None, got 1.5"),
    ({"threshold": -0.1}, "threshold must be a number between 0 and 1 or None, got -0.1"),
    ({"review_capacity": 10, "threshold": 0.5}, "give review_capacity or threshold, not both"),
    ({"format": "xlsx"}, "format must be 'parquet' or 'csv', got 'xlsx'"),
    ({"model": "m.joblib", "use_model": False},
     "a model file and use_model=False exclude each other"),
    ({"as_of": "yesterday-ish"},
     "as_of must be a time (ISO 8601 or Unix seconds/milliseconds, 1970-01-01 .. 2100-01-01) "
     "or None, got 'yesterday-ish'"),
    ({"as_of": 20260101},
     "as_of must be a time (ISO 8601 or Unix seconds/milliseconds, 1970-01-01 .. 2100-01-01) "
     "or None, got 20260101"),
    ({"max_paths": -1}, "max_paths must be a non-negative integer, got -1"),
    ({"use_model": 1}, "use_model must be true or false, got 1"),
    ({"graph": {"seed": 1}}, "graph must be a GraphConfig, got dict"),
    ({"spark_driver_max_identifiers": 0},
     "spark_driver_max_identifiers must be an integer >= 1 or None, got 0"),
])
def test_validation_messages(settings, message):
    with pytest.raises(ConfigError) as e:
        JobConfig(**settings)
    assert str(e.value) == message


def test_valid_settings():
    cfg = JobConfig(threshold=1.0, as_of=pd.Timestamp("2026-01-01"), model="m.joblib",
                    format="csv", max_paths=0)
    assert (cfg.threshold, cfg.format, cfg.max_paths) == (1.0, "csv", 0)
    assert JobConfig(threshold=0, as_of="2026-01-01T00:00:00Z").threshold == 0


def test_capacity_for():
    assert [default_review_capacity(n) for n in (0, 999, 1000, 1001, 20_000)] == [10, 10, 10,
                                                                                   11, 200]
    assert JobConfig().capacity_for(20_000) == 200
    assert JobConfig().capacity_for(50) == 10
    assert JobConfig(review_capacity=7).capacity_for(20_000) == 7
    assert JobConfig(threshold=0.9).capacity_for(20_000) is None


YAML = """\
review_capacity: 500
max_paths: 2
format: csv
link_threshold: 0.7
seed: 9
kind_weights: {ip: 0.2, voip: 0.4}
share_limits: {ip: 40}
"""


def test_load_mixes_job_and_graph_keys(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(YAML)
    cfg = JobConfig.load(path)
    assert (cfg.review_capacity, cfg.max_paths, cfg.format) == (500, 2, "csv")
    assert (cfg.graph.link_threshold, cfg.graph.seed) == (0.7, 9)
    # kind maps are merged over the defaults: the file names only the kinds it changes
    assert cfg.graph.kind_weights == {**DEFAULT_KIND_WEIGHTS, "ip": 0.2, "voip": 0.4}
    assert cfg.graph.share_limits == {**DEFAULT_SHARE_LIMITS, "ip": 40}
    assert cfg.graph.kind_weight("device") == 1.0
    # everything not named keeps its default
    assert cfg.graph.restart == GraphConfig().restart and cfg.use_model is True


def test_load_from_a_mapping_and_from_nothing():
    assert JobConfig.load() == JobConfig()
    assert JobConfig.load({"threshold": 0.4, "restart": 0.3}) == JobConfig(
        threshold=0.4, graph=GraphConfig(restart=0.3))


def test_unknown_keys_name_the_file_with_a_did_you_mean(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("review_capacty: 5\nlink_treshold: 0.4\nzzz: 1\n")
    with pytest.raises(ConfigError) as e:
        JobConfig.load(path)
    assert str(e.value) == (f"{path}: unknown setting(s): "
                            "'link_treshold' (did you mean 'link_threshold'?), "
                            "'review_capacty' (did you mean 'review_capacity'?), 'zzz'")


def test_bad_values_and_bad_files_name_the_file(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("threshold: 2\n")
    with pytest.raises(ConfigError) as e:
        JobConfig.load(path)
    assert str(e.value) == f"{path}: threshold must be a number between 0 and 1 or None, got 2"
    path.write_text("share_limits: {ip: 1}\n")
    with pytest.raises(ConfigError) as e:
        JobConfig.load(path)
    assert str(e.value) == f"{path}: share_limits['ip'] must be an integer >= 2, got 1"
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match=r": expected a mapping of settings, got list$"):
        JobConfig.load(path)
    path.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"job\.yaml: not valid YAML"):
        JobConfig.load(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: file not found$"):
        JobConfig.load(tmp_path / "missing.yaml")


def test_empty_file_is_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert JobConfig.load(path) == JobConfig()


def test_command_line_overrides_replace_the_file(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(YAML)
    cfg = JobConfig.load(path, max_paths=5, seed=1, format=None, review_capacity=None)
    assert (cfg.max_paths, cfg.graph.seed, cfg.format, cfg.review_capacity) == (5, 1, "csv", 500)
    # a capacity given on the command line replaces a threshold from the file, and back
    path.write_text("threshold: 0.8\n")
    cfg = JobConfig.load(path, review_capacity=30)
    assert (cfg.review_capacity, cfg.threshold) == (30, None)
    path.write_text("review_capacity: 30\n")
    cfg = JobConfig.load(path, threshold=0.25)
    assert (cfg.review_capacity, cfg.threshold) == (None, 0.25)
    # an override is validated like the file, and named after it
    with pytest.raises(ConfigError, match=r"job\.yaml: review_capacity must be"):
        JobConfig.load(path, review_capacity=0)


def test_replace_reaches_graph_parameters():
    base = JobConfig(review_capacity=50, graph=GraphConfig(kind_weights={"ip": 0.1}))
    cfg = base.replace(seed=3, max_paths=1)
    assert (cfg.graph.seed, cfg.max_paths, cfg.review_capacity) == (3, 1, 50)
    assert base.graph.seed == 0 and base.max_paths == 3            # frozen: a copy
    assert cfg.graph.kind_weights == base.graph.kind_weights        # other graph fields kept
    # a kind map given by name is merged over the config's own, not over the defaults
    merged = base.replace(kind_weights={"phone": 0.5})
    assert merged.graph.kind_weights == {"ip": 0.1, "phone": 0.5}
    assert base.replace(threshold=0.5, review_capacity=None).capacity_for(10_000) is None
    with pytest.raises(ConfigError, match="give review_capacity or threshold, not both"):
        base.replace(threshold=0.5)
    with pytest.raises(ConfigError, match="unknown setting"):
        base.replace(sede=3)


def test_to_dict_is_what_run_json_records():
    cfg = JobConfig(threshold=0.3, max_paths=4, graph=GraphConfig(seed=2))
    d = cfg.to_dict()
    assert d == {"config": GraphConfig(seed=2).to_dict(), "review_capacity": None,
                 "threshold": 0.3, "max_paths": 4, "score_tolerance": 0.05,
                 "max_model_age_days": 30.0}
    assert d["config"]["seed"] == 2
    # a run's record reads back into the same graph parameters
    assert JobConfig.load({**d["config"], "threshold": d["threshold"],
                           "max_paths": d["max_paths"]}) == cfg

"""Every docstring example in the package runs and prints what it says (numpydoc Examples)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest


LAYERS = ("ringfence.graph", "ringfence.models", "ringfence.jobs")


def _modules() -> list[str]:
    names = ["ringfence"]
    for layer in LAYERS:
        pkg = importlib.import_module(layer)
        names.append(layer)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, layer + ".")]
    return sorted(names)


MODULES = _modules()
# examples that fit a model on a small platform: make test runs them, make test-fast does not
SLOW = {"ringfence.jobs.flag"}


def test_every_layer_is_searched():
    # a packaging change that hid a layer would make this file pass vacuously
    for name in ("ringfence.graph.pipeline", "ringfence.models.scoring", "ringfence.jobs.runs",
                 "ringfence.graph.synth.write", "ringfence.graph.neo4j.load"):
        assert name in MODULES


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
                                  for m in MODULES])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    if name.startswith(("ringfence.graph.spark.", "ringfence.models.spark_",
                        "ringfence.jobs.spark_")) \
            and importlib.util.find_spec("pyspark") is None:
        pytest.skip("the Spark engine's modules need the spark extra (make spark)")
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"

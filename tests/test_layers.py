"""The layering the package promises: graph <- models <- jobs, and one namespace."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"graph": ("ringfence.models", "ringfence.jobs"), "models": ("ringfence.jobs",)}
TOP_LEVEL = ("graph", "models", "jobs")


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(layer):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert len(files) > 5
    bad = [(f.relative_to(ROOT), m) for f in files for m in _imports(f)
           if m.startswith(FORBIDDEN[layer])]
    assert bad == []


def test_code_imports_the_package_never_bare_folders():
    files = [f for d in TOP_LEVEL + ("benchmarks", "tests") for f in (ROOT / d).rglob("*.py")]
    bad = [(f.relative_to(ROOT), m) for f in files for m in _imports(f)
           if m.split(".")[0] in TOP_LEVEL]
    assert bad == []

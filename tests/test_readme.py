"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow  # the README's 20,000-account platform, model included
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "flagged" in out and "reasons" in out
    assert (tmp_path / "flags" / "scores.parquet").exists()
    assert (tmp_path / "flags" / "run.json").exists()


@pytest.mark.parametrize("doc", ["docs/engines.md"])
def test_docs_python_examples_run(doc, tmp_path, monkeypatch, capsys):
    text = (README.parent / doc).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"{doc} has no python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, doc, "exec"), {})
    out = capsys.readouterr().out
    assert "in-process" in out

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


def test_readme_nightly_commands_are_ones_the_command_line_takes():
    """Every command of "Running nightly" parses (options, choices) as written."""
    import shlex

    from ringfence.jobs.cli import build_parser

    text = README.read_text()
    section = text[text.index("## Running nightly"):text.index("## Read more")]
    block = re.findall(r"```console\n(.*?)```", section, flags=re.S)[0]
    block = block.replace("\\\n", " ")
    inputs = re.search(r'^IN="(.*)"$', block, flags=re.M).group(1)
    commands = [shlex.split(line.split("#")[0].replace("$IN", inputs))
                for line in block.splitlines() if line.startswith("ringfence ")]
    assert [c[1] for c in commands] == ["init", "train", "flag", "diff", "rings", "show",
                                        "decide"]
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv[1:])   # exits (status 2) on anything it does not take
        assert args.command == argv[1]
    flag = parser.parse_args(commands[2][1:])
    assert flag.model and flag.previous and flag.decisions

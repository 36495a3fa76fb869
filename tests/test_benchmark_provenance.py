"""Benchmark results name the code they measured (issue #18's figures are compared across runs)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_results_record_the_commit_and_whether_files_were_changed(tmp_path):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.bench import code_version, machine
    finally:
        sys.path.remove(str(ROOT))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    code = code_version()
    assert re.fullmatch(r"[0-9a-f]{40}", code["commit"]) and code["commit"] == head
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                             capture_output=True, text=True).stdout.splitlines()
    assert code["changed_files"] == len(changed)
    assert machine()["code"]["commit"] == head

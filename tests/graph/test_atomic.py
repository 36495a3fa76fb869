"""graph/atomic.py: readers see the old file or folder or the new one; no half, no leftover."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from ringfence.graph.atomic import atomic_directory, atomic_file, file_sha256, umask, write_json


@pytest.fixture
def mask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_file_replaces_on_success(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"          # not visible before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_file_creates_missing_parent_folders(tmp_path):
    target = tmp_path / "x" / "y" / "a.txt"
    with atomic_file(target) as tmp:
        tmp.write_text("hi")
    assert target.read_text() == "hi"


def test_atomic_file_keeps_the_old_file_and_no_temp_on_error(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_file_leaves_nothing_when_there_was_no_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(tmp_path / "a.txt") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("m, expected", [(0o027, 0o640), (0o022, 0o644), (0o077, 0o600),
                                         (0o002, 0o664)])
def test_atomic_file_permissions_follow_the_umask(tmp_path, mask, m, expected):
    mask(m)
    assert umask() == m
    target = tmp_path / "a.txt"
    with atomic_file(target) as tmp:
        tmp.write_text("x")
    assert _mode(target) == expected
    # and the same as a plain open() would give
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == expected


def test_atomic_file_with_fsync(tmp_path):
    with atomic_file(tmp_path / "a.bin", fsync=True) as tmp:
        tmp.write_bytes(b"\x00\x01")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"


def test_umask_reads_without_changing(mask):
    mask(0o027)
    assert umask() == 0o027
    assert umask() == 0o027


def _fill(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_atomic_directory_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "run"
    _fill(out, {"old.csv": "1", "shared.csv": "old"})
    with atomic_directory(out) as tmp:
        assert tmp.parent == tmp_path and tmp != out
        _fill(tmp, {"new.csv": "2", "shared.csv": "new"})
        assert (out / "old.csv").exists()          # the old folder stands until the end
    assert sorted(p.name for p in out.iterdir()) == ["new.csv", "shared.csv"]
    assert (out / "shared.csv").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]   # no .tmp or .old leftovers


def test_atomic_directory_creates_a_new_folder(tmp_path):
    with atomic_directory(tmp_path / "a" / "run") as tmp:
        _fill(tmp, {"f": "x"})
    assert (tmp_path / "a" / "run" / "f").read_text() == "x"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["run"]


def test_atomic_directory_cleans_up_and_keeps_the_old_folder_on_error(tmp_path):
    out = tmp_path / "run"
    _fill(out, {"old.csv": "1"})
    with pytest.raises(OSError, match="disk full"):
        with atomic_directory(out) as tmp:
            _fill(tmp, {"new.csv": "2"})
            raise OSError("disk full")
    assert [p.name for p in out.iterdir()] == ["old.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_directory_refuses_a_file(tmp_path):
    f = tmp_path / "run"
    f.write_text("not a folder")
    with pytest.raises(FileExistsError, match="not a directory"):
        with atomic_directory(f):
            pytest.fail("the block must not run")
    assert f.read_text() == "not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_write_json(tmp_path):
    obj = {"b": 1, "a": [1.5, None, True], "when": tmp_path}   # a path is written as str
    path = write_json(obj, tmp_path / "sub" / "run.json")
    assert path == tmp_path / "sub" / "run.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert list(json.loads(text)) == ["b", "a", "when"]          # key order kept
    assert json.loads(text) == {"b": 1, "a": [1.5, None, True], "when": str(tmp_path)}
    write_json({"c": "é"}, path)                                  # replaced, UTF-8
    assert json.loads(path.read_text(encoding="utf-8")) == {"c": "é"}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]


def test_file_sha256_equals_hashlib_across_chunks(tmp_path):
    data = os.urandom(3 * 4096 + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert file_sha256(path, chunk=4096) == want           # four reads, the last partial
    assert file_sha256(path, chunk=4096 * 3 + 123) == want   # exactly one full chunk
    assert file_sha256(path) == want
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("m, expected", [(0o022, 0o755), (0o002, 0o775), (0o077, 0o700)])
def test_atomic_directory_permissions_follow_the_umask(tmp_path, mask, m, expected):
    mask(m)
    with atomic_directory(tmp_path / "run") as tmp:
        _fill(tmp, {"f": "x"})
    assert _mode(tmp_path / "run") == expected
    (tmp_path / "plain").mkdir()                        # as a plain mkdir would give
    assert _mode(tmp_path / "plain") == expected


def test_atomic_directory_lock_serialises_two_writers(tmp_path):
    """Two writers of one folder: the second waits for the first's swap, then swaps its own."""
    out = tmp_path / "run"
    first_inside = threading.Event()
    order: list[str] = []

    def write(name: str, files: dict[str, str]) -> None:
        with atomic_directory(out) as tmp:
            order.append(f"{name} in")
            if name == "a":
                first_inside.set()
                time.sleep(0.3)                          # b must wait here, not interleave
            _fill(tmp, files)
            order.append(f"{name} out")

    a = threading.Thread(target=write, args=("a", {"x.csv": "a", "y.csv": "a"}))
    a.start()
    assert first_inside.wait(10)
    b = threading.Thread(target=write, args=("b", {"x.csv": "b", "z.csv": "b"}))
    b.start()
    a.join(10)
    b.join(10)
    assert order == ["a in", "a out", "b in", "b out"]
    assert {p.name: p.read_text() for p in out.iterdir()} == {"x.csv": "b", "z.csv": "b"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]   # no tmp, old or lock left


_WRITER = """
import sys
from ringfence.graph.atomic import atomic_directory
out, tag = sys.argv[1], sys.argv[2]
for i in range(15):
    with atomic_directory(out) as tmp:
        for k in range(3):
            (tmp / f"{k}.txt").write_text(f"{tag}{i}")
"""


@pytest.mark.slow  # subprocesses
def test_atomic_directory_lock_serialises_processes(tmp_path):
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(out), tag]) for tag in "pq"]
    assert [p.wait(60) for p in procs] == [0, 0]
    texts = {p.read_text() for p in out.iterdir()}
    assert len(texts) == 1 and texts.pop() in {"p14", "q14"}   # one complete result
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_directory_removes_leftovers_of_dead_runs(tmp_path):
    out = tmp_path / "run"
    _fill(out, {"old.csv": "1"})
    _fill(tmp_path / ".run.tmp-abc123", {"half.csv": "x"})     # killed while writing
    _fill(tmp_path / ".run.old-4242", {"old.csv": "0"})        # killed between two renames
    (tmp_path / ".run.lock").write_text("")                    # its lock file
    _fill(tmp_path / ".other.tmp-zz", {"f": "other folder's"})  # not ours: kept
    with atomic_directory(out) as tmp:
        _fill(tmp, {"new.csv": "2"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-zz", "run"]
    assert [p.name for p in out.iterdir()] == ["new.csv"]


def test_atomic_directory_swap_never_leaves_the_folder_missing(tmp_path):
    """A reader polling the folder while a writer swaps it 200 times always finds one."""
    out = tmp_path / "run"
    _fill(out, {"n": "start"})
    stop = threading.Event()
    missing: list[int] = []
    seen = 0

    def poll() -> None:
        nonlocal seen
        while not stop.is_set():
            if not os.path.isdir(out):
                missing.append(seen)
            seen += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(200):
            with atomic_directory(out) as tmp:
                (tmp / "n").write_text(str(i))
    finally:
        stop.set()
        reader.join(10)
    assert seen > 200 and missing == []
    assert (out / "n").read_text() == "199"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_directory_falls_back_to_two_renames(tmp_path, monkeypatch):
    from ringfence.graph import atomic

    monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    out = tmp_path / "run"
    _fill(out, {"old.csv": "1"})
    with atomic_directory(out) as tmp:
        _fill(tmp, {"new.csv": "2"})
    assert [p.name for p in out.iterdir()] == ["new.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

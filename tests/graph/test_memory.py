"""graph/memory.py: freed memory handed back between stages, or kept under a budget."""

from __future__ import annotations

import pytest

from ringfence.graph import memory


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: seen.append("trim"))
    monkeypatch.setattr(memory, "_mallopt", lambda p, v: seen.append(("mallopt", p, v)))
    monkeypatch.setattr(memory, "_KEEP_BELOW", None)
    return seen


def test_freed_memory_is_handed_back_after_every_stage_by_default(calls):
    memory.release_freed_memory()
    memory.release_freed_memory()
    assert calls == ["trim", "trim"]


def test_freed_memory_is_kept_under_the_budget(calls):
    memory.keep_freed_below(1 << 50)
    memory.release_freed_memory()
    assert calls == []


def test_above_the_budget_the_defaults_come_back_for_good(calls):
    memory.keep_freed_below(1)  # any process holds more than a byte
    memory.release_freed_memory()
    assert calls == [("mallopt", memory.M_MMAP_MAX, memory.DEFAULT_MMAP_MAX), "trim"]
    memory.release_freed_memory()
    assert calls[2:] == ["trim"]


def test_resident_bytes_counts_this_process():
    assert memory.resident_bytes() > 10 << 20  # python with numpy and pyarrow imported

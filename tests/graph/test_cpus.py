"""graph/cpus.py: the CPUs a process may use (affinity, cgroup v1 and v2 quotas) and thread limits."""

from __future__ import annotations

import os

import pytest

import ringfence.graph.cpus as cpus


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake machine: 8 CPUs in the affinity mask, cgroup files under tmp_path."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    v2 = tmp_path / "cpu.max"
    v1 = (tmp_path / "cpu.cfs_quota_us", tmp_path / "cpu.cfs_period_us")
    monkeypatch.setattr(cpus, "CGROUP_V2", v2)
    monkeypatch.setattr(cpus, "CGROUP_V1", v1)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("RINGFENCE_THREADS", raising=False)
    return v2, v1


@pytest.mark.parametrize("cpu_max,expected", [
    (None, 8),                  # no cgroup file: the affinity mask decides
    ("max 100000\n", 8),        # no quota
    ("200000 100000\n", 2),     # two CPUs
    ("150000 100000\n", 2),     # 1.5 CPUs: two threads
    ("50000 100000\n", 1),      # half a CPU: one thread
    ("1600000 100000\n", 8),    # a quota above the mask: the mask
    ("garbage\n", 8),
])
def test_cgroup_v2_quota_caps_the_affinity(machine, cpu_max, expected):
    v2, _ = machine
    if cpu_max is not None:
        v2.write_text(cpu_max)
    assert cpus.available_cpus() == expected


@pytest.mark.parametrize("quota,period,expected", [
    ("-1", "100000", 8), ("300000", "100000", 3), ("25000", "100000", 1)])
def test_cgroup_v1_quota(machine, quota, period, expected):
    _, (q, p) = machine
    q.write_text(quota + "\n")
    p.write_text(period + "\n")
    assert cpus.available_cpus() == expected


def test_affinity_mask_counts_not_the_machine(machine, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert cpus.available_cpus() == 1


def test_thread_limits_bound_every_pool(machine):
    from threadpoolctl import threadpool_info

    import sklearn.ensemble  # noqa: F401 (loads OpenMP, so that its pool is limited too)
    assert cpus.thread_budget() == 8
    with cpus.thread_limits(1) as n:
        assert n == 1 and cpus.thread_budget() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert cpus.thread_budget() == 8
    with cpus.thread_limits() as n:
        assert n == 8
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        cpus.resolve_threads(0)


@pytest.mark.parametrize("omp,ours,expected", [
    ("1", None, 1),       # told one OpenMP thread: one, as scikit-learn's pools do
    ("3,2", None, 3),     # nested levels: the first
    ("16", None, 8),      # a cap, never more than the CPUs
    ("", None, 8), ("x", None, 8), ("0", None, 8),  # unusable: ignored, as OpenMP does
    ("1", "6", 6),        # RINGFENCE_THREADS decides
])
def test_default_threads_honour_the_environment(machine, monkeypatch, omp, ours, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", omp)
    if ours is not None:
        monkeypatch.setenv("RINGFENCE_THREADS", ours)
    assert cpus.default_threads() == expected
    assert cpus.resolve_threads(None) == expected and cpus.thread_budget() == expected
    assert cpus.resolve_threads(5) == 5  # --threads overrides both


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_a_bad_ringfence_threads_is_refused(machine, monkeypatch, bad):
    monkeypatch.setenv("RINGFENCE_THREADS", bad)
    with pytest.raises(ValueError, match=f"RINGFENCE_THREADS must be an integer >= 1, got '{bad}'"):
        cpus.default_threads()


@pytest.mark.slow  # a subprocess per case
@pytest.mark.parametrize("env,expected", [
    ({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "unset")])
def test_waiting_openmp_threads_spin_briefly(env, expected):
    import subprocess
    import sys
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}, **env}
    out = subprocess.run([sys.executable, "-c", "import os, ringfence.graph, sklearn.ensemble; "
                          "print(os.environ.get('GOMP_SPINCOUNT', 'unset'))"], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == expected   # set when ringfence.graph is imported, before OpenMP

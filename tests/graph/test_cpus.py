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

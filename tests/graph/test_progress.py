"""graph/progress.py: stage timings and each stage's own memory peak."""

from __future__ import annotations

import os

import numpy as np
import pytest



@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's resettable memory high-water mark")
def test_stage_peaks_are_each_stages_own():
    from ringfence.graph.progress import Stages, peak_rss_mib
    st = Stages(quiet=True)
    with st.stage("big"):
        block = np.ones(40_000_000)  # 305 MiB, touched
        del block
    with st.stage("small"):
        np.ones(1000)
    assert st.peak_mib["big"] > st.peak_mib["small"] + 250
    assert peak_rss_mib() >= st.peak_mib["big"] - 0.05  # the process's peak survives resets
                                                       # (stage peaks are rounded to 0.1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
@pytest.mark.slow  # a subprocess holding 458 MiB
def test_a_job_started_by_a_big_process_reports_its_own_peak():
    import subprocess
    import sys
    ballast = np.ones(60_000_000)  # 458 MiB held by this process while it starts the child
    code = ("from ringfence.graph.progress import Stages, peak_rss_mib\n"
            "st = Stages(quiet=True)\n"
            "with st.stage('nothing'):\n    pass\n"
            "print(peak_rss_mib(), st.peak_mib['nothing'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    peak, stage = map(float, out.split())
    assert ballast.sum() == 60_000_000
    assert peak < 300 and stage < 300  # the child's own imports, not the parent's 458 MiB

"""Case reports, tested the way a person would: generate a platform, run the flag job,
write the report of the top account, open it in headless Chromium, look at the page."""

from __future__ import annotations

import html
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from ringfence.graph import load_tables
from ringfence.graph.masking import Masker
from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.flag import flag_files, run_flag
from ringfence.jobs.report import ReportError, case_report_html, write_case_report
from ringfence.jobs.runs import RunFolderError, read_run, read_table

# node colours of the neighbourhood picture (graph/drawing.py); the page's CSS uses
# none of them, so finding them in a screenshot finds the picture
PICTURE_COLOURS = np.array([(0x4c, 0x78, 0xa8), (0xd6, 0x27, 0x28), (0xff, 0x7f, 0x0e)])


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        pytest.skip("headless Chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def dump_dom(path: Path) -> str:
    proc = run_chromium(path.resolve().as_uri(), "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(path: Path, png: Path, size: str = "1280,2400") -> np.ndarray:
    from PIL import Image

    proc = run_chromium(path.resolve().as_uri(), f"--screenshot={png}", f"--window-size={size}")
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    return np.asarray(Image.open(png).convert("RGB"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A platform written to files and a flag run on them, as from the command line.

    Propagation scoring keeps this quick; the model's reasons are plain text like the
    others and are covered by the flag job's tests.
    """
    base = tmp_path_factory.mktemp("report")
    p = generate_platform(n_accounts=3000, seed=7)
    files = write_platform(p, base / "platform", format="csv")
    paths = {k: str(files[k]) for k in ("accounts", "identifiers", "edges", "enforcement")}
    out = base / "flags"
    flag_files(paths, out, scorer="propagation")
    return out


@pytest.fixture(scope="module")
def loaded(run_dir):
    return read_run(run_dir).result()


def top_account(result) -> str:
    return str(result.top(1)["account_id"].iloc[0])


@pytest.mark.browser
def test_report_renders_in_chromium(loaded, tmp_path):
    account = top_account(loaded)
    row = loaded.scores.set_index("account_id").loc[account]
    out = write_case_report(loaded, account, tmp_path / "case.html")
    assert out == tmp_path / "case.html"
    assert not list(tmp_path.glob(".*tmp"))                  # atomic: no temp file left
    assert stat.S_IMODE(out.stat().st_mode) & 0o044          # readable like any other file

    dom = dump_dom(out)
    assert f"<title>Case report: {account}</title>" in dom
    assert f'id="account-id">{account}<' in dom
    assert f'id="score">{row["score"]:.3f}<' in dom
    assert f'id="rank">#{int(row["rank"])}<' in dom
    assert "flagged for review" in dom
    assert "Evidence paths to banned accounts" in dom
    assert re.search(r'<img id="neighbourhood" src="data:image/png;base64,', dom)
    first_path = loaded.evidence[loaded.evidence["account_id"] == account]["text"].iloc[0]
    assert html.escape(first_path) in dom                    # its evidence, masked as in reasons

    img = screenshot(out, tmp_path / "case.png")
    assert img.shape[:2] == (2400, 1280)
    non_white = (img.min(axis=2) < 235)
    assert non_white.mean() > 0.10                           # not a blank page
    colours = np.unique(img.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200                                # text, tables, a picture
    # the neighbourhood picture: its node colours cover a large region of the page
    near = np.zeros(img.shape[:2], bool)
    for c in PICTURE_COLOURS:
        near |= (np.abs(img.astype(int) - c).max(axis=2) <= 10)
    ys, xs = np.nonzero(near)
    assert near.sum() > 500, "no neighbourhood picture on the page"
    h, w = ys.max() - ys.min(), xs.max() - xs.min()
    assert h > 250 and w > 400, (h, w)
    region = non_white[ys.min():ys.max(), xs.min():xs.max()]
    assert 0.02 < region.mean() < 0.9                        # drawn on, and not a solid block


def test_in_memory_result_and_masks(tmp_path):
    p = generate_platform(n_accounts=1500, seed=11)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    masker = Masker(b"case-key")
    result = run_flag(t, scorer="propagation", masker=masker, review_capacity=15)
    account = top_account(result)
    page = case_report_html(result, account, masker)
    assert "masking key differs" not in page                 # picture masks match the reasons
    assert "Direct links" in page or "Not linked" in page
    for clear in p.identifiers["value"].head(200):           # no identifier in clear
        assert f">{html.escape(str(clear))}<" not in page
        assert f">{escape(str(clear))}<" not in page         # as the template escapes
    other = case_report_html(result, account, Masker(b"another-key"))
    assert "masking key differs" in other                    # and the page says when not
    # with another key, the identifiers the run named keep the run's masks: the masks
    # recovered from its links and evidence are those of the right identifiers
    from ringfence.jobs.report.masks import recorded_masks

    known = recorded_masks(result)
    assert len(known) >= 10
    idf = result.graph.identifiers
    for i, m in known.items():
        assert m == masker.mask(str(idf["kind"].iat[i]), str(idf["value"].iat[i]))
    # no network: no scripts, no stylesheets or images from elsewhere
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    # a banned account and an account outside the queue still get a page
    s = result.scores
    banned = str(s.loc[s["banned"], "account_id"].iloc[0])
    assert "banned accounts are the sources of evidence" in case_report_html(result, banned,
                                                                               masker)
    quiet = str(s.loc[~s["flagged"] & ~s["banned"] & ~s["cleared"]].sort_values("rank")
                ["account_id"].iloc[0])
    page = case_report_html(result, quiet, masker)
    assert "not flagged" in page and "computed for this report" in page
    with pytest.raises(ReportError, match="not in this run"):
        case_report_html(result, "no-such-account")


@pytest.mark.slow  # opens the page in Chromium when there is one
def test_hostile_account_id_is_escaped(tmp_path):
    evil = '<script>alert("x")</script>'
    evil2 = '"><img src=x onerror=alert(1)>'
    accounts = pd.DataFrame({"account_id": [evil, evil2, "banned1", "banned2", "c1", "c2",
                                            "other"],
                             "note": ["<b>bold</b>", "", "", "", "", "", ""]})
    ids = pd.DataFrame({"account_id": [evil, "banned1", evil2, "banned2", evil, evil2,
                                       "c1", "c2"],
                        "kind": ["device", "device", "card", "card", "email", "email",
                                 "phone", "phone"],
                        "value": ["<d1>", "<d1>", "c9", "c9", "e<x>", "e<x>", "p", "p"]})
    enf = pd.DataFrame({"account_id": ["banned1", "banned2", "c1"],
                        "action": ["ban", "ban", "cleared"],
                        "at": ["2026-01-01", "2026-01-02", "2026-01-03"],
                        "reason": ["<i>fraud</i>", "spam", ""]})
    t = load_tables(accounts, identifiers=ids, enforcement=enf)
    result = run_flag(t, scorer="propagation", review_capacity=2, masker=Masker(b"k"))
    assert result.scores.set_index("account_id").loc[evil, "flagged"]
    out = write_case_report(result, evil, tmp_path / "evil.html", masker=Masker(b"k"))
    page = out.read_text(encoding="utf-8")
    assert evil not in page and evil2 not in page and "<i>fraud</i>" not in page
    # escaped as the template escapes (markupsafe writes a double quote as &#34;)
    assert escape(evil) in page and escape(evil2) in page
    assert "<script" not in page and "<img src=x" not in page
    if chromium() is not None:
        dom = dump_dom(out)
        assert "<script" not in dom                          # no element came from the id
        assert "&lt;script&gt;alert" in dom
        assert "<img src=\"x\"" not in dom and "<img src=x" not in dom


def test_a_run_read_back_is_what_the_run_wrote(run_dir, loaded):
    written = read_table(run_dir, "scores")
    assert loaded.scores["account_id"].tolist() == written["account_id"].astype(str).tolist()
    assert np.array_equal(loaded.scores["score"].to_numpy(), written["score"].to_numpy())
    assert loaded.scores["reasons"].tolist() == written["reasons"].tolist()
    assert loaded.graph is not None and loaded.graph.n_accounts == len(written)
    assert loaded.state.linking is not None
    assert loaded.run["loaded_from"]["graph_rebuilt"] is True
    # without the rebuild: no picture, but a report all the same
    light = read_run(run_dir).result(rebuild=False)
    assert light.graph is None
    assert "No picture" in case_report_html(light, top_account(light))


def test_reports_refuse_missing_runs_and_changed_inputs(run_dir, tmp_path):
    with pytest.raises(RunFolderError, match="no such run directory"):
        read_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="no run.json"):
        read_run(tmp_path / "empty")
    # a copy of the run whose accounts file changed afterwards
    import json

    copy = tmp_path / "flags"
    shutil.copytree(run_dir, copy)
    run = json.loads((copy / "run.json").read_text())
    src = Path(run["inputs"]["accounts"]["source"])
    changed = tmp_path / "accounts.csv.gz"
    df = pd.read_csv(src, dtype=str)
    df.loc[0, "country"] = "ZZ"
    df.to_csv(changed, index=False)
    run["inputs"]["accounts"]["source"] = str(changed)
    run["inputs"]["accounts"]["path"] = str(changed)
    (copy / "run.json").write_text(json.dumps(run))
    # a run that kept no graph around its flags (as runs did before) refuses, as it did
    bare = tmp_path / "bare"
    shutil.copytree(copy, bare)
    for f in run["subgraph"]["files"].values():
        (bare / f).unlink()
    with pytest.raises(RunFolderError, match="changed since the run"):
        read_run(bare).result()
    changed.unlink()
    with pytest.raises(RunFolderError, match="not a file any more"):
        read_run(bare).result()


def test_command_line(run_dir, loaded, tmp_path, capsys):
    from ringfence.jobs import cli

    account = top_account(loaded)
    out = tmp_path / "cli.html"
    assert cli.main(["report", account, "--run", str(run_dir), "--out", str(out)]) == 0
    assert out.exists() and account in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["report", "nobody", "--run", str(run_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nobody" in err and len(err.splitlines()) == 1
    assert cli.main(["report", account, "--run", str(tmp_path / "missing"),
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing" in err and len(err.splitlines()) == 1


def test_data_is_escaped_not_evaluated(tmp_path):
    """Markup and template syntax in the data show as text: nothing runs, nothing renders."""
    hostile = "<script>alert(1)</script>{{ 7*7 }}"
    accounts = pd.DataFrame({"account_id": [hostile, "banned1", "other"]})
    ids = pd.DataFrame({"account_id": [hostile, "banned1"], "kind": ["device", "device"],
                        "value": ["{{ 7*7 }}", "{{ 7*7 }}"]})
    enf = pd.DataFrame({"account_id": ["banned1"], "action": ["ban"], "at": ["2026-01-01"],
                        "reason": [hostile]})
    t = load_tables(accounts, identifiers=ids, enforcement=enf)
    result = run_flag(t, scorer="propagation", review_capacity=1, masker=Masker(b"k"))
    result.scores.loc[result.scores["account_id"] == hostile, "reasons"] = hostile
    for account in (hostile, "banned1"):
        page = case_report_html(result, account, Masker(b"k"))
        assert "<script" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in page  # {{ }} not evaluated
    page = case_report_html(result, hostile, Masker(b"k"))
    assert f"<title>Case report: {escape(hostile)}</title>" in page
    assert f'<li>{escape(hostile)}</li>' in page              # the reason, as text
    banned = case_report_html(result, "banned1", Masker(b"k"))
    assert f"2026-01-01 {escape(hostile)}</dd>" in banned     # the ban reason, as text


"""Case reports of accounts whose ids a person chose: dollars and backslashes in the
picture, and runs written as CSV (leading zeros, numeric-looking ids, empty reasons)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ringfence.graph.drawing import draw_neighbourhood
from ringfence.graph.masking import Masker
from ringfence.graph.neighbourhood import neighbourhood
from ringfence.jobs.cli import main
from ringfence.jobs.flag import run_flag
from ringfence.jobs.report import case_report_html
from ringfence.jobs.runs import read_run
from helpers import small_tables

# mathtext would fail on the first two and draw the third as x squared
MATHS = ["$x_$", "$\\foo$", "$x^2$", "back\\slash", "$"]


def test_dollars_and_backslashes_in_ids_are_drawn_as_text():
    t = small_tables(MATHS + ["banned1"],
                     identifiers=[(a, "device", "d1") for a in MATHS + ["banned1"]],
                     enforcement=[("banned1", "ban", "2026-01-01")])
    result = run_flag(t, scorer="propagation", review_capacity=2, masker=Masker(b"k"))
    for account in MATHS:                                 # each, and each as a neighbour
        page = case_report_html(result, account, Masker(b"k"))
        assert 'src="data:image/png;base64,' in page
        assert html.escape(account, quote=False) in page
    G = neighbourhood(result.graph, "$x_$", hops=2, scores=result.scores, masker=Masker(b"k"))
    ax = draw_neighbourhood(G, ax=Figure().subplots())
    labels = {t.get_text() for t in ax.texts}
    assert set(MATHS) <= labels
    assert not any(t.get_parse_math() for t in ax.texts)
    assert not ax.title.get_parse_math()
    assert "$x_$" in ax.title.get_text()


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A run written as CSV from CSV inputs; ``007`` and ``12345`` are flagged, ``quiet``
    has no reasons, ``=1+1`` and ``-5`` are written with a quote in front."""
    d = tmp_path_factory.mktemp("csvrun")
    ids = ["007", "12345", "banned1", "quiet", "c1", "=1+1", "-5"]
    pd.DataFrame({"account_id": ids}).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["007", "12345", "banned1"], "kind": "device",
                  "value": "d1"}).to_csv(d / "identifiers.csv", index=False)
    pd.DataFrame({"account_id": ["banned1", "c1"], "action": ["ban", "cleared"],
                  "at": ["2026-01-01", "2026-01-02"]}).to_csv(d / "enforcement.csv",
                                                              index=False)
    out = d / "flags"
    code = main(["flag", *(x for t in ("accounts", "identifiers", "enforcement")
                           for x in (f"--{t}", str(d / f"{t}.csv"))),
                 "--out", str(out), "--format", "csv", "--no-model", "--quiet",
                 "--review-capacity", "2"])
    assert code == 0
    return out


@pytest.mark.parametrize("account", ["007", "12345", "quiet", "=1+1", "-5"])
def test_report_of_a_csv_run(csv_run, tmp_path, account, capsys):
    out = tmp_path / "case.html"
    assert main(["report", "--run", str(csv_run), "--out", str(out), "--", account]) == 0, \
        capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    assert f'id="account-id">{account}<' in page
    # the picture's base64 may spell "nan" by chance: look at the text only
    text = re.sub(r'src="data:image/png;base64,[^"]*"', "", page)
    assert "nan" not in text.replace("financ", "")
    result = read_run(csv_run).result()
    reasons = result.scores.set_index("account_id").loc[account, "reasons"]
    assert reasons == "" if account in ("quiet", "=1+1", "-5") else "shares device" in reasons

"""Case reports: one self-contained HTML page per account, for a reviewer.

A case report shows why an account is in the review queue: its score, rank
and reasons, the evidence paths to banned accounts, a picture of its
neighbourhood, the accounts linked to it (its identity), its cluster, and the
run it came from. The page needs no network: CSS is inline and the picture is
an embedded PNG. Identifier values are masked as in the reasons; every string
from the data is HTML-escaped.

From a finished run (a flag job's ``--out`` directory), :func:`load_run`
reads the tables the run wrote -- so the report shows exactly the scores,
ranks and reasons the run recorded -- and rebuilds the account graph (not the
model) from the input files named in ``run.json``, after checking their
sha256, for the neighbourhood picture::

    from ringfence.jobs.report import load_run, write_case_report
    result = load_run("demo/flags")
    write_case_report(result, "acct_0001750", "case.html")
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ringfence.graph.drawing import draw_neighbourhood
from ringfence.graph.evidence import Masker, evidence_paths
from ringfence.graph.neighbourhood import neighbourhood
from ringfence.jobs.flag import FlagResult

__all__ = ["ReportError", "case_report_html", "write_case_report", "load_run"]

ROW_LIMIT = 25  # rows shown per table; the rest are counted


class ReportError(ValueError):
    """The report cannot be made (unknown account, missing or changed run); one line."""


# --------------------------------------------------------------------------- loading a run


def _resolve_source(source: str, out_dir: Path) -> Path | None:
    """The input file a run recorded, relative to the current directory or the run's."""
    p = Path(source)
    for cand in (p, out_dir.parent / p, out_dir / p) if not p.is_absolute() else (p,):
        if cand.is_file():
            return cand
    return None


def load_run(out_dir: str | os.PathLike, *, account_id: str | None = None,
             rebuild_graph: bool = True) -> FlagResult:
    """A finished flag run as a :class:`~jobs.flag.FlagResult`, for reports.

    Reads the tables the run wrote (``scores``, ``identities``, ``links``,
    ``clusters``, ``evidence``) and ``run.json``, then rebuilds the account
    graph and identities from the input files recorded in
    ``run["inputs"][name]["source"]`` with the run's config and ``as_of``
    (the model is not refitted: scores and reasons are the run's own).

    Parameters
    ----------
    out_dir
        The flag job's output directory.
    account_id
        If given, checked against the run's accounts before the (slower)
        graph rebuild.
    rebuild_graph
        False skips the rebuild; ``graph`` and ``identity_result`` are then
        None and reports have no neighbourhood picture.

    Raises
    ------
    ReportError
        No run in ``out_dir``, an unknown ``account_id``, an input file that
        is missing or whose sha256 differs from the one recorded.

    Notes
    -----
    Cost: reading the output tables plus :func:`graph.load_tables` and
    :func:`graph.build.build_graph` on the inputs (seconds for 100k accounts).
    Runs made from Python with DataFrames as input record no files: their
    graph cannot be rebuilt and ``graph`` is None.
    """
    from ringfence.graph import load_tables
    from ringfence.graph.build import build_graph
    from ringfence.graph.config import ConfigError, load_config
    from ringfence.graph.identity import link_identities
    from ringfence.jobs.output import file_sha256, read_output

    d = Path(out_dir)
    run_path = d / "run.json"
    if not d.is_dir():
        raise ReportError(f"{d}: no such run directory (give a flag job's --out)")
    if not run_path.is_file():
        raise ReportError(f"{d}: no run.json here (is this a flag job's --out?)")
    try:
        run = json.loads(run_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReportError(f"{run_path}: cannot read it ({e})") from None
    try:
        tables = {name: read_output(d, name)
                  for name in ("scores", "identities", "links", "clusters", "evidence")}
    except FileNotFoundError as e:
        raise ReportError(str(e).splitlines()[0]) from None
    scores = tables["scores"]
    scores["account_id"] = scores["account_id"].astype(str)
    if "rank" in scores.columns:
        scores["rank"] = scores["rank"].astype("Int64")
    if account_id is not None and not (scores["account_id"] == str(account_id)).any():
        raise ReportError(f"account {str(account_id)!r} is not in the run at {d}")

    graph = ident = None
    notes: list[str] = []
    if rebuild_graph:
        paths: dict[str, Path] = {}
        for name, info in (run.get("inputs") or {}).items():
            source = str(info.get("source", ""))
            p = _resolve_source(str(info["path"]), d) if info.get("path") else None
            p = p or _resolve_source(source, d)
            if p is None:
                if source.endswith("(DataFrame)"):
                    notes.append(f"{name} was a DataFrame: the graph cannot be rebuilt")
                    paths = {}
                    break
                raise ReportError(f"input {name} of the run not found: {source} (run the report "
                                  f"from the directory the flag job ran in)")
            want = info.get("sha256")
            if want and file_sha256(p) != want:
                raise ReportError(f"input {name} ({p}) changed since the run (sha256 differs): "
                                  f"re-run the flag job before reporting")
            if not want:
                notes.append(f"{name}: no sha256 recorded, not checked")
            paths[name] = p
        if paths:
            try:
                config = load_config(run["parameters"]["config"])
            except (ConfigError, KeyError) as e:
                raise ReportError(f"{run_path}: cannot read the run's config ({e})") from None
            t = load_tables(**{k: paths.get(k) for k in
                               ("accounts", "identifiers", "edges", "enforcement")})
            graph = build_graph(t, config, as_of=run.get("as_of"))
            ident = link_identities(graph, config)
    run = dict(run)
    run["loaded_from"] = {"directory": str(d), "graph_rebuilt": graph is not None,
                          "notes": notes}
    return FlagResult(scores=scores, identities=tables["identities"], links=tables["links"],
                      clusters=tables["clusters"], evidence=tables["evidence"], run=run,
                      graph=graph, identity_result=ident)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- formatting


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _missing(x: Any) -> bool:
    try:
        return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))
    except (TypeError, ValueError):
        return False


def _fmt(x: Any) -> str:
    """A cell: numbers rounded, booleans as yes/no, times as dates, missing as a dash."""
    if _missing(x):
        return "&ndash;"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        return f"{x:,.3f}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, pd.Timestamp):
        return _e(x.strftime("%Y-%m-%d %H:%M") if (x.hour or x.minute) else x.strftime("%Y-%m-%d"))
    return _e(x)


def _table(df: pd.DataFrame, columns: Sequence[tuple[str, str]], *, limit: int = ROW_LIMIT,
           empty: str = "nothing to show", cls: str = "", raw: Iterable[str] = ()) -> str:
    """An HTML table of ``df``'s ``(column, heading)`` pairs; ``raw`` columns are pre-escaped."""
    if df is None or not len(df):
        return f'<p class="muted">{_e(empty)}</p>'
    raw = set(raw)
    head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
    rows = []
    for _, r in df.head(limit).iterrows():
        cells = "".join(f"<td>{r[c] if c in raw else _fmt(r[c])}</td>" for c, _ in columns)
        rows.append(f"<tr>{cells}</tr>")
    more = (f'<p class="muted">and {len(df) - limit:,} more not shown</p>'
            if len(df) > limit else "")
    return (f'<table class="{_e(cls)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{more}')


def _dl(items: Iterable[tuple[str, Any]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _status_badges(row: pd.Series) -> str:
    out = []
    if bool(row.get("banned", False)):
        out.append('<span class="badge banned">banned</span>')
    if bool(row.get("cleared", False)):
        out.append('<span class="badge cleared">cleared by a reviewer</span>')
    if bool(row.get("flagged", False)):
        out.append('<span class="badge flagged">flagged for review</span>')
    elif not out:
        out.append('<span class="badge quiet">not flagged</span>')
    return " ".join(out)


def _status_text(r: pd.Series) -> str:
    bits = []
    if bool(r.get("banned", False)):
        bits.append("banned")
    if bool(r.get("cleared", False)):
        bits.append("cleared")
    if bool(r.get("flagged", False)):
        bits.append("flagged")
    v = r.get("violations", 0)
    if not _missing(v) and int(v):
        bits.append(f"{int(v)} violation{'s' if int(v) != 1 else ''}")
    return ", ".join(bits) or "-"


def _path_html(path_json: str, banned: str) -> str:
    try:
        accounts = json.loads(path_json)
    except (TypeError, ValueError):
        return _e(path_json)
    parts = []
    for a in accounts:
        cls = "acc banned-acc" if a == banned else "acc"
        parts.append(f'<span class="{cls}">{_e(a)}</span>')
    return ' <span class="arrow">&rarr;</span> '.join(parts)


def _picture(result: FlagResult, account_id: str, masker: Masker, hops: int,
             max_nodes: int, known_masks: dict[int, str] | None = None) -> tuple[str, str]:
    """(img tag or note, caption) for the neighbourhood picture."""
    if result.graph is None:
        return ('<p class="muted">No picture: the account graph is not available for this run '
                '(its inputs were DataFrames or were not rebuilt).</p>', "")
    from matplotlib.figure import Figure

    G = neighbourhood(result.graph, account_id, hops=hops, max_nodes=max_nodes,
                      scores=result.scores, masker=masker, known_masks=known_masks)
    n_acc = sum(1 for _, d in G.nodes(data=True) if d["kind"] == "account")
    fig = Figure(figsize=(9.6, 6.4), dpi=100)
    ax = fig.subplots()
    draw_neighbourhood(G, account_id, ax=ax, title="")
    fig.subplots_adjust(left=0.01, right=0.80, top=0.99, bottom=0.01)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    caption = (f"{n_acc} account{'s' if n_acc != 1 else ''} and "
               f"{G.number_of_nodes() - n_acc} shared identifiers within {hops} hops")
    if G.graph.get("trimmed"):
        caption += (f"; {G.graph['trimmed']:,} more weakly linked account"
                    f"{'s' if G.graph['trimmed'] != 1 else ''} left out")
    caption += (". Squares are identifiers (masked; in brackets, how many accounts use it "
                "platform-wide; hollow = a hub, too widely shared to link anyone), circles "
                "accounts; thicker lines are stronger links.")
    img = (f'<img id="neighbourhood" src="data:image/png;base64,{data}" width="960" '
           f'height="640" alt="neighbourhood of {_e(account_id)}">')
    return img, caption


def _pair_rows(graph, a_ids: Sequence[str], b_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``graph.pairs`` for account-id pairs: (positions in the input, pair rows)."""
    if not len(a_ids) or not len(graph.pairs):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    idx = graph.index
    a = idx.get_indexer(pd.Index(a_ids, dtype=object))
    b = idx.get_indexer(pd.Index(b_ids, dtype=object))
    good = np.flatnonzero((a >= 0) & (b >= 0))
    a, b = a[good], b[good]
    n = graph.n_accounts
    key = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
    keys = graph.pairs["a"].to_numpy() * n + graph.pairs["b"].to_numpy()
    pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    hit = keys[pos] == key
    return good[hit], pos[hit]


def _recorded_masks(result: FlagResult) -> dict[int, str]:
    """The masks the run itself showed, by identifier row: from its links and evidence."""
    g = result.graph
    out: dict[int, str] = {}
    if g is None:
        return out
    top = g.pairs["top_identifier"].to_numpy()
    links = result.links
    if links is not None and len(links):
        at, rows = _pair_rows(g, links["account_a"].astype(str).tolist(),
                              links["account_b"].astype(str).tolist())
        masks = links["top_identifier"].astype(str).to_numpy()[at]
        out.update(zip(top[rows].tolist(), masks.tolist()))
    ev = result.evidence
    if ev is not None and len(ev) and "steps" in ev.columns:
        a_ids, b_ids, masks = [], [], []
        for path, steps in zip(ev["path"], ev["steps"]):
            try:
                accounts, steps = json.loads(path), json.loads(steps)
            except (TypeError, ValueError):
                continue
            for i, st in enumerate(steps):
                if st.get("via") == "identifier" and st.get("mask") and i + 1 < len(accounts):
                    a_ids.append(str(accounts[i]))
                    b_ids.append(str(accounts[i + 1]))
                    masks.append(str(st["mask"]))
        at, rows = _pair_rows(g, a_ids, b_ids)
        out.update(zip(top[rows].tolist(), np.asarray(masks, dtype=object)[at].tolist()))
    return out


def _masks_match(result: FlagResult, masker: Masker) -> bool | None:
    """Do ``masker``'s masks equal the run's (checked on the recorded links)? None: unknown."""
    g, links = result.graph, result.links
    if g is None or links is None or not len(links) or not len(g.pairs):
        return None
    sample = links.head(20)
    try:
        a = g.nodes(sample["account_a"].astype(str))
        b = g.nodes(sample["account_b"].astype(str))
    except KeyError:
        return None
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = g.n_accounts
    keys = g.pairs["a"].to_numpy() * n + g.pairs["b"].to_numpy()
    pos = np.searchsorted(keys, lo * n + hi)
    pos = np.minimum(pos, len(keys) - 1)
    ok = keys[pos] == lo * n + hi
    if not ok.any():
        return None
    top = g.pairs["top_identifier"].to_numpy()[pos[ok]]
    idf = g.identifiers
    mine = masker.mask_many(idf["kind"].astype(str).to_numpy()[top], idf["value"].to_numpy()[top])
    return bool((mine == sample["top_identifier"].astype(str).to_numpy()[ok]).all())


# --------------------------------------------------------------------------- the page

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1d2430;font:15px/1.45 -apple-system,"Segoe UI",
Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif}
header{background:#1c3d5a;color:#fff;padding:22px 24px 18px}
header .inner{max-width:1132px;margin:0 auto}
header h1{margin:0 0 6px;font-size:25px;font-weight:600;word-break:break-all}
header .sub{color:#c9d6e3;font-size:13.5px}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:16px 20px;
margin:0 0 16px}
h2{font-size:17px;margin:0 0 10px;color:#1c3d5a}
h3{font-size:14.5px;margin:14px 0 6px;color:#39485a}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0 4px}
.kpi{background:#27506f;border-radius:5px;padding:8px 16px;min-width:120px}
.kpi .v{font-size:24px;font-weight:600;color:#fff}
.kpi .l{font-size:12px;color:#c9d6e3;text-transform:uppercase;letter-spacing:.04em}
.badge{display:inline-block;border-radius:3px;padding:2px 9px;font-size:13px;font-weight:600;
margin-right:4px}
.badge.flagged{background:#e8590c;color:#fff}
.badge.banned{background:#a61e4d;color:#fff}
.badge.cleared{background:#2b8a3e;color:#fff}
.badge.quiet{background:#dee2e6;color:#343a40}
ul.reasons{margin:4px 0 0;padding-left:20px}
ul.reasons li{margin:3px 0}
table{border-collapse:collapse;width:100%;font-size:13.5px;margin:4px 0}
th{background:#eef1f5;text-align:left;font-weight:600;color:#39485a}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;vertical-align:top}
td{overflow-wrap:break-word}
.muted{color:#6b7785;font-size:13px}
.acc{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
.banned-acc{color:#a61e4d;font-weight:600}
.arrow{color:#6b7785}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.grid section{margin:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;font-size:13.5px}
dt{color:#6b7785}
dd{margin:0;overflow-wrap:anywhere}
figure{margin:0}
figure img{max-width:100%;height:auto;border:1px solid #e3e6ea;border-radius:4px}
figcaption{color:#6b7785;font-size:13px;margin-top:6px}
.note{background:#fff4e6;border-left:4px solid #e8590c;padding:6px 10px;font-size:13px;
margin:8px 0}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
footer{color:#6b7785;font-size:12px;text-align:center;margin-top:10px}
@media print{body{background:#fff}section{break-inside:avoid}}
"""


def case_report_html(result: FlagResult, account_id: str, masker: Masker | None = None, *,
                     hops: int = 2, max_nodes: int = 60) -> str:
    """The case report of ``account_id`` as one self-contained HTML page.

    Parameters
    ----------
    result
        From :func:`jobs.flag.run_flag` or :func:`load_run`.
    account_id
        The account to report on; :class:`ReportError` if it is not in the run.
    masker
        Masks identifier values in the neighbourhood picture and in any
        evidence computed here. Pass the masker the run used (or set
        ``RINGFENCE_MASK_KEY`` as for the run) so that masks match the
        reasons; the report says when they do not.
    hops, max_nodes
        Size of the neighbourhood picture (see :func:`graph.neighbourhood.neighbourhood`).

    Notes
    -----
    Cost: a neighbourhood cut and one matplotlib drawing (well under a
    second), plus evidence paths for an account the run did not flag.
    """
    scores = result.scores
    account_id = str(account_id)
    hit = scores.index[scores["account_id"].astype(str) == account_id]
    if not len(hit):
        raise ReportError(f"account {account_id!r} is not in this run")
    row = scores.loc[hit[0]]
    masker = masker or Masker()
    run = result.run or {}
    summary = run.get("summary", {})
    n_ranked = int(scores["rank"].notna().sum()) if "rank" in scores.columns else len(scores)
    rank = row.get("rank")
    rank_text = "&ndash;" if _missing(rank) else f"#{int(rank):,}"
    rank_note = ("not ranked: already decided by a reviewer" if _missing(rank)
                 else f"of {n_ranked:,} ranked accounts")
    score = float(row["score"])
    notes: list[str] = []

    # ---- reasons and evidence
    ev = result.evidence
    ev = ev[ev["account_id"].astype(str) == account_id].sort_values("path_rank") \
        if ev is not None and len(ev) else pd.DataFrame()
    computed_here = False
    if not len(ev) and result.graph is not None and not bool(row.get("banned", False)):
        node = result.graph.nodes([account_id])
        paths = evidence_paths(result.graph, node, masker=masker).get(int(node[0]), [])
        if paths:
            computed_here = True
            ev = pd.DataFrame([{"path_rank": i, "hops": p["hops"],
                                "banned_account": p["banned"]["account_id"],
                                "strength": p["strength"], "text": p["text"],
                                "path": json.dumps(p["accounts"])}
                               for i, p in enumerate(paths, start=1)])
    reasons = [r for r in str(row.get("reasons", "") or "").split("; ") if r.strip()]
    if reasons:
        reasons_html = '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons) \
            + "</ul>"
    elif bool(row.get("banned", False)):
        reasons_html = ('<p class="muted">This account is banned: banned accounts are the '
                        'sources of evidence, not flagged again.</p>')
    else:
        reasons_html = ('<p class="muted">No reasons recorded: the run explains flagged '
                        'accounts only.</p>')
    if len(ev):
        ev = ev.copy()
        ev["path_html"] = [_path_html(p, b) for p, b in zip(ev["path"], ev["banned_account"])]
        ev_html = _table(ev, [("path_rank", "#"), ("hops", "hops"), ("path_html", "path"),
                              ("strength", "strength"), ("text", "evidence")],
                         raw=("path_html",), cls="evidence")
        if computed_here:
            ev_html = ('<p class="note">This account was not flagged in the run: these paths '
                       'were computed for this report.</p>') + ev_html
    else:
        ev_html = '<p class="muted">No short path to a banned account.</p>'

    # ---- picture
    match = _masks_match(result, masker)
    known = None
    if match is False:
        known = _recorded_masks(result)
        notes.append("This report's masking key differs from the run's (the run used "
                     + ("a random per-run key" if not (run.get("masking") or {}).get(
                         "persistent_key") else "another key")
                     + "): identifiers named in the run's reasons and links keep the run's "
                     "masks in the picture, other identifiers there were masked for this "
                     "report. Set RINGFENCE_MASK_KEY for the flag run and the report to get "
                     "stable masks.")
    img, caption = _picture(result, account_id, masker, hops, max_nodes, known)

    # ---- identity
    ident_id = row.get("identity_id", -1)
    ident_id = -1 if _missing(ident_id) else int(ident_id)
    links = result.links
    if links is not None and len(links):
        mine = links[(links["account_a"].astype(str) == account_id)
                     | (links["account_b"].astype(str) == account_id)].copy()
        mine["other"] = np.where(mine["account_a"].astype(str) == account_id,
                                 mine["account_b"], mine["account_a"])
        mine = mine.sort_values("weight", ascending=False)
    else:
        mine = pd.DataFrame(columns=["other"])
    s_by_id = scores.set_index(scores["account_id"].astype(str))
    if len(mine):
        o = s_by_id.reindex(mine["other"].astype(str))
        mine["status"] = [_status_text(r) for _, r in o.iterrows()]
        mine["other_score"] = o["score"].to_numpy()
        mine["other_html"] = [f'<span class="acc">{_e(a)}</span>' for a in mine["other"]]
        mine["kinds"] = mine["kinds"].astype(str).str.replace("+", ", ", regex=False)
        mine["cut_text"] = np.where(mine["cut"].astype(bool), "cut (identity split)", "")
    if ident_id >= 0:
        members = scores[scores["identity_id"] == ident_id]
        irow = result.identities[result.identities["identity_id"] == ident_id]
        ident_head = (f"<p>Identity <b>{ident_id}</b>: {len(members):,} accounts linked by "
                      f"shared identifiers; {int(members['banned'].sum()):,} banned, "
                      f"{int(members['cleared'].sum()):,} cleared, "
                      f"{int(members['flagged'].sum()):,} flagged"
                      + (", split from a larger component" if len(irow)
                         and bool(irow.iloc[0].get("was_split", False)) else "") + ".</p>")
    else:
        ident_head = ('<p class="muted">Not linked to any other account strongly enough to form '
                      'an identity.</p>')
    ident_html = ident_head + ("<h3>Direct links</h3>" + _table(
        mine, [("other_html", "linked account"), ("weight", "link weight"),
               ("n_shared", "identifiers shared"), ("kinds", "kinds"),
               ("top_identifier", "strongest identifier (masked)"),
               ("top_shared_by", "used by (accounts)"), ("status", "status"),
               ("other_score", "score"), ("cut_text", "")],
        raw=("other_html",)) if len(mine) else "")
    if ident_id >= 0:
        direct = set(mine["other"].astype(str)) if len(mine) else set()
        rest = scores[(scores["identity_id"] == ident_id)
                      & (scores["account_id"].astype(str) != account_id)
                      & ~scores["account_id"].astype(str).isin(direct)]
        if len(rest):
            rest = rest.sort_values("score", ascending=False)
            rest = rest.assign(
                status=[_status_text(r) for _, r in rest.iterrows()],
                acc_html=[f'<span class="acc">{_e(a)}</span>' for a in rest["account_id"]])
            ident_html += ("<h3>Linked through other members</h3>" + _table(
                rest, [("acc_html", "account"), ("score", "score"), ("rank", "rank"),
                       ("status", "status")], raw=("acc_html",), limit=12))

    # ---- cluster
    cl_id = row.get("cluster_id", -1)
    cl_id = -1 if _missing(cl_id) else int(cl_id)
    clusters = result.clusters
    if cl_id >= 0 and clusters is not None and (clusters["cluster_id"] == cl_id).any():
        pos = int(np.flatnonzero(clusters["cluster_id"].to_numpy() == cl_id)[0])
        c = clusters.iloc[pos]
        members = scores[scores["cluster_id"] == cl_id].sort_values("score", ascending=False)
        members = members.assign(
            status=[_status_text(r) for _, r in members.iterrows()],
            acc_html=[f'<span class="acc">{_e(a)}</span>' for a in members["account_id"]])
        facts = [("cluster", f"<b>{cl_id}</b> (riskiest #{pos + 1:,} of {len(clusters):,})"),
                 ("ring risk", _fmt(c.get("risk"))), ("size", _fmt(c.get("size"))),
                 ("banned", _fmt(c.get("banned"))), ("cleared", _fmt(c.get("cleared"))),
                 ("flagged", _fmt(int(members["flagged"].sum()))),
                 ("violations", f"{_fmt(c.get('violations'))} by "
                                f"{_fmt(c.get('violating_accounts'))} accounts"),
                 ("offence rate", _fmt(c.get("offence_rate"))),
                 ("active", f"{_fmt(c.get('first_activity'))} to "
                            f"{_fmt(c.get('last_activity'))}"),
                 ("internal link weight", _fmt(c.get("internal_weight")))]
        cluster_html = _dl(facts) + "<h3>Members, highest score first</h3>" + _table(
            members, [("acc_html", "account"), ("score", "score"), ("rank", "rank"),
                      ("status", "status")], raw=("acc_html",), limit=12)
    else:
        cluster_html = '<p class="muted">Not in any cluster.</p>'

    # ---- run
    params = run.get("parameters", {})
    cfg = params.get("config", {})
    model = run.get("model", {}) or {}
    run_facts = [
        ("as of", _e(run.get("as_of", "?"))),
        ("scoring", _e(summary.get("scoring", model.get("mode", "?")))
         + (f' <span class="muted">({_e(summary["scoring_note"])})</span>'
            if summary.get("scoring_note") else "")),
        ("review capacity", _fmt(params.get("effective_review_capacity"))
         + (f" (threshold {_fmt(params['threshold'])})" if params.get("threshold") is not None
            else "")),
        ("accounts / flagged", f"{_fmt(summary.get('accounts'))} / {_fmt(summary.get('flagged'))}"),
        ("graph settings", _e(", ".join(f"{k} {cfg[k]}" for k in (
            "link_threshold", "cluster_method", "cluster_objective", "cluster_resolution",
            "restart",
            "identifier_half_life_days", "edge_half_life_days", "seed") if k in cfg))),
        ("identifier masks", "stable key (RINGFENCE_MASK_KEY)"
         if (run.get("masking") or {}).get("persistent_key") else "random per-run key"),
    ]
    inputs = pd.DataFrame([{"table": k, "source": v.get("source", ""),
                            "sha256": (v.get("sha256") or "")[:16] + ("…" if v.get("sha256")
                                                                      else "not recorded"),
                            "rows": (run.get("row_counts") or {}).get(k)}
                           for k, v in (run.get("inputs") or {}).items()])
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())
    loaded = run.get("loaded_from")
    if loaded:
        run_facts.append(("loaded from", _e(loaded.get("directory"))
                          + ("" if loaded.get("graph_rebuilt") else
                             " (graph not rebuilt)")))
    run_html = (_dl(run_facts) + "<h3>Inputs</h3>" + _table(
        inputs, [("table", "table"), ("source", "file"), ("rows", "rows"),
                 ("sha256", "sha256")], empty="no inputs recorded")
        + f'<p class="muted">Versions: {_e(versions)}</p>')

    status_facts = [
        ("status", _status_badges(row)),
        ("violations", _fmt(row.get("violations"))),
        ("propagation score", _fmt(row.get("propagation"))),
        ("identity", _fmt(ident_id) if ident_id >= 0 else "none"),
        ("cluster", _fmt(cl_id) if cl_id >= 0 else "none"),
    ]
    if result.graph is not None:
        st = result.graph.status.iloc[int(result.graph.nodes([account_id])[0])]
        if "first_activity" in st.index:
            status_facts.append(("active", f"{_fmt(st['first_activity'])} to "
                                           f"{_fmt(st['last_activity'])}"))
        if bool(st["banned"]):
            status_facts.append(("banned", f"{_fmt(st['ban_at'])} {_e(st['ban_reason'])}"))
    notes_html = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
    flagged_word = "flagged for review" if bool(row.get("flagged", False)) else (
        "banned" if bool(row.get("banned", False)) else
        "cleared" if bool(row.get("cleared", False)) else "not flagged")

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Case report: {_e(account_id)}</title>
<style>{_CSS}</style></head>
<body>
<header><div class="inner">
<h1>Case report: <span id="account-id">{_e(account_id)}</span></h1>
<div class="sub">ringfence flag run as of {_e(run.get("as_of", "?"))} &middot;
{_e(summary.get("scoring", ""))} &middot; identifier values are masked</div>
<div class="kpis">
<div class="kpi"><div class="l">score</div><div class="v" id="score">{score:.3f}</div></div>
<div class="kpi"><div class="l">rank</div><div class="v" id="rank">{rank_text}</div>
<div class="l">{rank_note}</div></div>
<div class="kpi"><div class="l">state</div><div class="v" id="state">{_e(flagged_word)}</div>
</div></div>
</div></header>
<main>
{notes_html}
<div class="grid">
<section id="reasons"><h2>Why this account</h2>{reasons_html}</section>
<section id="status"><h2>Account</h2>{_dl(status_facts)}</section>
</div>
<section id="evidence" style="margin-top:16px"><h2>Evidence paths to banned accounts</h2>
{ev_html}</section>
<section id="picture"><h2>Neighbourhood</h2><figure>{img}
<figcaption>{_e(caption)}</figcaption></figure></section>
<section id="identity"><h2>Identity: accounts linked to this one</h2>{ident_html}</section>
<section id="cluster"><h2>Cluster</h2>{cluster_html}</section>
<section id="run"><h2>The run this comes from</h2>{run_html}</section>
<footer>ringfence case report &middot; a flag is a reason to review, not a verdict</footer>
</main>
</body></html>
"""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_case_report(result: FlagResult, account_id: str, out: str | os.PathLike,
                      masker: Masker | None = None, **kwargs: Any) -> Path:
    """Write :func:`case_report_html` to ``out`` atomically; returns the path.

    The page is written to a temporary file next to ``out`` and moved into
    place with :func:`os.replace`, so a reader never sees half a report.
    ``kwargs`` go to :func:`case_report_html` (``hops``, ``max_nodes``).
    """
    text = case_report_html(result, account_id, masker, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out

"""Case reports: one self-contained HTML page per account, for a reviewer.

A case report shows why an account is in the review queue: its score, rank
and reasons, the evidence paths to banned accounts, a picture of its
neighbourhood, the accounts linked to it (its identity), its cluster, and the
run it came from. This module gathers those facts; the page itself is the
Jinja2 template ``templates/case.html.j2`` with ``templates/case.css`` inlined,
so it needs no network (the picture is an embedded PNG). Identifier values
are masked as in the reasons, and autoescaping escapes every string from the
data: they go into the template as plain text, never as markup.

Examples
--------
>>> from ringfence.jobs.runs import read_run
>>> result = read_run("demo/flags").result()                       # doctest: +SKIP
>>> write_case_report(result, "acct_0001750", "case.html")         # doctest: +SKIP
PosixPath('case.html')
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from ringfence.graph.atomic import atomic_file
from ringfence.graph.drawing import neighbourhood_png
from ringfence.graph.evidence import evidence_paths
from ringfence.graph.masking import Masker
from ringfence.graph.neighbourhood import neighbourhood
from ringfence.jobs.flag import FlagResult
from ringfence.jobs.report.errors import ReportError
from ringfence.jobs.report.masks import masks_match, recorded_masks

__all__ = ["case_report_html", "write_case_report"]

ROW_LIMIT = 25  # rows shown per table; the rest are counted
TEMPLATES = Path(__file__).resolve().parent / "templates"
_DASH = Markup("&ndash;")  # a constant, not data: safe to emit as markup


# --------------------------------------------------------------------------- formatting


def _missing(x: Any) -> bool:
    try:
        return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))
    except (TypeError, ValueError):
        return False


def _fmt(x: Any) -> str:
    """A cell: numbers rounded, booleans as yes/no, times as dates, missing as a dash.

    Returns plain text (the template escapes it), or the dash as markup.
    """
    if _missing(x):
        return _DASH
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        return f"{x:,.3f}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, pd.Timestamp):
        return x.strftime("%Y-%m-%d %H:%M") if (x.hour or x.minute) else x.strftime("%Y-%m-%d")
    return str(x)


@dataclass(frozen=True)
class _Table:
    """The first rows of a table, as dicts of cell values, and how many were left out."""

    rows: list[dict[str, Any]]
    more: int


def _table(df: pd.DataFrame | None, limit: int = ROW_LIMIT) -> _Table:
    if df is None or not len(df):
        return _Table([], 0)
    # iterrows, as the cells were always read: <= limit rows, values as the frame holds them
    return _Table([r.to_dict() for _, r in df.head(limit).iterrows()], max(len(df) - limit, 0))


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


def _path(path_json: str, banned: Any) -> list[tuple[str, bool]] | str:
    """An evidence path as (account, is the banned end) pairs; the raw text if unreadable."""
    try:
        accounts = json.loads(path_json)
    except (TypeError, ValueError):
        return "" if path_json is None else str(path_json)
    return [(str(a), a == banned) for a in accounts]


@cache
def _environment() -> jinja2.Environment:
    # None prints as nothing, as a missing run field always did; a misspelt name in the
    # template is an error rather than a silently empty cell
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             finalize=lambda x: "" if x is None else x)
    env.filters["cell"] = _fmt
    return env


# --------------------------------------------------------------------------- the page's parts


def _evidence(result: FlagResult, row: pd.Series, account_id: str,
              masker: Masker) -> dict[str, Any]:
    """The run's evidence paths for the account, or paths computed here if it has none."""
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
    if len(ev):
        ev = ev.copy()
        ev["path"] = [_path(p, b) for p, b in zip(ev["path"], ev["banned_account"])]
    return {"table": _table(ev), "computed_here": computed_here}


def _picture(result: FlagResult, account_id: str, masker: Masker, hops: int, max_nodes: int,
             known_masks: dict[int, str] | None) -> dict[str, Any] | None:
    """The neighbourhood picture (base64 PNG) and the counts its caption gives."""
    if result.graph is None:
        return None
    G = neighbourhood(result.graph, account_id, hops=hops, max_nodes=max_nodes,
                      scores=result.scores, masker=masker, known_masks=known_masks)
    n_acc = sum(1 for _, d in G.nodes(data=True) if d["kind"] == "account")
    return {"png": base64.b64encode(neighbourhood_png(G, account_id)).decode("ascii"),
            "accounts": n_acc, "identifiers": G.number_of_nodes() - n_acc, "hops": hops,
            "trimmed": int(G.graph.get("trimmed") or 0)}


def _link_evidence(mine: pd.DataFrame) -> None:
    """Kind, probability and each comparison's contribution of the links (runs before the
    linker have none: empty cells)."""
    kind = mine["link_kind"] if "link_kind" in mine else pd.Series("", index=mine.index)
    mine["kind_text"] = kind.astype(str).str.replace("_", " ", regex=False)
    mine["probability"] = mine["match_probability"] if "match_probability" in mine else np.nan
    bf = [c for c in mine.columns if c.startswith("bf_")]
    parts = [np.where(mine[c].to_numpy(float) != 0,
                      c[3:] + " " + mine[c].map("{:+.1f}".format).astype(str), "") for c in bf]
    mine["contributions"] = [", ".join(p for p in row if p) for row in zip(*parts)] if bf \
        else ""
    if "reason" not in mine:
        mine["reason"] = ""


def _identity(result: FlagResult, row: pd.Series, account_id: str) -> dict[str, Any]:
    """The account's identity: its direct links and the other members."""
    scores = result.scores
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
        mine["other"] = mine["other"].astype(str)
        mine["kinds"] = mine["kinds"].astype(str).str.replace("+", ", ", regex=False)
        mine["cut_text"] = np.where(mine["cut"].astype(bool), "cut (identity split)", "")
        _link_evidence(mine)
    out: dict[str, Any] = {"id": None, "links": _table(mine), "rest": _table(None)}
    if ident_id < 0:
        return out
    members = scores[scores["identity_id"] == ident_id]
    irow = result.identities[result.identities["identity_id"] == ident_id]
    out.update(id=ident_id, members=len(members), banned=int(members["banned"].sum()),
               cleared=int(members["cleared"].sum()), flagged=int(members["flagged"].sum()),
               was_split=bool(len(irow) and bool(irow.iloc[0].get("was_split", False))))
    direct = set(mine["other"].astype(str)) if len(mine) else set()
    rest = scores[(scores["identity_id"] == ident_id)
                  & (scores["account_id"].astype(str) != account_id)
                  & ~scores["account_id"].astype(str).isin(direct)]
    if len(rest):
        rest = rest.sort_values("score", ascending=False)
        rest = rest.assign(status=[_status_text(r) for _, r in rest.iterrows()],
                           account=rest["account_id"].astype(str))
        out["rest"] = _table(rest, limit=12)
    return out


def _cluster(result: FlagResult, row: pd.Series) -> dict[str, Any] | None:
    """The account's cluster: its facts and members, or None."""
    scores, clusters = result.scores, result.clusters
    cl_id = row.get("cluster_id", -1)
    cl_id = -1 if _missing(cl_id) else int(cl_id)
    if cl_id < 0 or clusters is None or not (clusters["cluster_id"] == cl_id).any():
        return None
    pos = int(np.flatnonzero(clusters["cluster_id"].to_numpy() == cl_id)[0])
    c = clusters.iloc[pos]
    members = scores[scores["cluster_id"] == cl_id].sort_values("score", ascending=False)
    members = members.assign(status=[_status_text(r) for _, r in members.iterrows()],
                             account=members["account_id"].astype(str))
    facts = {k: c.get(k) for k in ("risk", "size", "banned", "cleared", "violations",
                                    "violating_accounts", "offence_rate", "first_activity",
                                    "last_activity", "internal_weight")}
    return {"id": cl_id, "position": pos + 1, "of": len(clusters), **facts,
            "flagged": int(members["flagged"].sum()), "members": _table(members, limit=12)}


def _decisions(result: FlagResult, row: pd.Series, account_id: str) -> dict[str, Any]:
    """The account's logged decisions as the run read them, else its latest from scores."""
    from ringfence.jobs.decisions_log import read_logged

    info = ((result.run or {}).get("inputs") or {}).get("decisions") or {}
    log = read_logged(info["path"], info) if info.get("path") and info.get("sha256") else None
    if log is not None:
        mine = log[log["account_id"] == account_id].iloc[::-1]  # newest first
        at = pd.to_datetime(mine["at"], utc=True, format="ISO8601", errors="coerce")
        mine = mine.assign(at=at.astype(object).where(at.notna(), mine["at"]))
        return {"table": _table(mine), "note": None}
    if _missing(row.get("decision")):
        return {"table": _table(None), "note": None}
    latest = pd.DataFrame([{"at": row.get("decided_at"), "decision": row.get("decision"),
                            "by": row.get("decided_by"), "reason": None}])
    return {"table": _table(latest), "note": "The decisions log this run read is not "
            "available: only the latest decision is shown, from the run's scores."}


def _run(run: dict[str, Any]) -> dict[str, Any]:
    """What the report says about the run it comes from."""
    summary = run.get("summary", {})
    params = run.get("parameters", {})
    cfg = params.get("config", {})
    model = run.get("model", {}) or {}
    inputs = pd.DataFrame([{"table": k, "source": v.get("source", ""),
                            "sha256": (v.get("sha256") or "")[:16] + ("…" if v.get("sha256")
                                                                      else "not recorded"),
                            "rows": (run.get("row_counts") or {}).get(k)}
                           for k, v in (run.get("inputs") or {}).items()])
    loaded = run.get("loaded_from")
    return {
        "as_of": run.get("as_of", "?"),
        "summary_scoring": summary.get("scoring", ""),
        "scoring": summary.get("scoring", model.get("mode", "?")),
        "scoring_note": summary.get("scoring_note") or "",
        "review_capacity": params.get("effective_review_capacity"),
        "threshold": params.get("threshold"),
        "accounts": summary.get("accounts"), "flagged": summary.get("flagged"),
        "graph_settings": ", ".join(f"{k} {cfg[k]}" for k in (
            "link_threshold", "cluster_method", "cluster_objective", "cluster_resolution",
            "restart", "identifier_half_life_days", "edge_half_life_days", "seed") if k in cfg),
        "persistent_key": bool((run.get("masking") or {}).get("persistent_key")),
        "loaded_from": None if not loaded else {
            "directory": loaded.get("directory"), "graph_rebuilt": loaded.get("graph_rebuilt"),
            "graph": loaded.get("graph")},
        "inputs": _table(inputs),
        "versions": ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items()),
    }


def _account(result: FlagResult, row: pd.Series, account_id: str) -> dict[str, Any]:
    """The account's own status, and its activity and ban from the graph when rebuilt."""
    out = {k: bool(row.get(k, False)) for k in ("banned", "cleared", "flagged")}
    out.update(violations=row.get("violations"), propagation=row.get("propagation_score"),
               active=None, ban=None)
    if result.graph is not None:
        st = result.graph.status.iloc[int(result.graph.nodes([account_id])[0])]
        if "first_activity" in st.index:
            out["active"] = (st["first_activity"], st["last_activity"])
        if bool(st["banned"]):
            out["ban"] = (st["ban_at"], st["ban_reason"])
    return out


# --------------------------------------------------------------------------- the page


def case_report_html(result: FlagResult, account_id: str, masker: Masker | None = None, *,
                     hops: int = 2, max_nodes: int = 60) -> str:
    """The case report of ``account_id`` as one self-contained HTML page.

    Parameters
    ----------
    result
        From :func:`ringfence.jobs.flag.run_flag` or
        :meth:`ringfence.jobs.runs.RunFolder.result`.
    account_id
        The account to report on; :class:`ReportError` if it is not in the run.
    masker
        Masks identifier values in the neighbourhood picture and in any
        evidence computed here. Pass the masker the run used (or set
        ``RINGFENCE_MASK_KEY`` as for the run) so that masks match the
        reasons; the report says when they do not.
    hops, max_nodes
        Size of the neighbourhood picture (see
        :func:`ringfence.graph.neighbourhood.neighbourhood`).

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
    masker = masker or result.masker or Masker()
    run = result.run or {}
    changed = ((run.get("loaded_from") or {}).get("changed_inputs") or {}) \
        if (run.get("loaded_from") or {}).get("graph") == "stored" else {}
    in_graph = result.graph is not None and account_id in result.graph.index
    if result.graph is not None and not in_graph:  # outside the graph the run kept
        result = dataclasses.replace(result, state=None)
    rank = row.get("rank")
    known = None
    mask_note = None
    if masks_match(result, masker) is False:
        known = recorded_masks(result)
        mask_note = "another key" if (run.get("masking") or {}).get("persistent_key") \
            else "a random per-run key"
    ident = _identity(result, row, account_id)
    cluster = _cluster(result, row)
    page = {
        "account_id": account_id,
        "score": float(row["score"]),
        "rank": None if _missing(rank) else int(rank),
        "n_ranked": int(scores["rank"].notna().sum()) if "rank" in scores.columns
        else len(scores),
        **_score_headline(rank, scores, run),
        "reasons": [r for r in str(row.get("reasons", "") or "").split("; ") if r.strip()],
        "account": _account(result, row, account_id),
        "identity_id": ident["id"], "cluster_id": None if cluster is None else cluster["id"],
        "mask_note": mask_note,
        "evidence": _evidence(result, row, account_id, masker),
        "decisions": _decisions(result, row, account_id),
        "picture": _picture(result, account_id, masker, hops, max_nodes, known),
        "identity": ident, "cluster": cluster, "run": _run(run),
        "changed_inputs": sorted(changed.items()), "in_stored_graph": in_graph,
    }
    return _environment().get_template("case.html.j2").render(page)


def _share_text(percent: float) -> str:
    """0.015, 2.5, 40: two significant digits below 10 %, whole numbers above."""
    return f"{percent:.0f}" if percent >= 10 else f"{percent:.2g}"


def _score_headline(rank: Any, scores: pd.DataFrame, run: dict) -> dict[str, str]:
    """The queue place as a share, and what the score's number means (it is not this account's
    chance of being an offender: the model is calibrated on reviewed accounts only)."""
    n = int(scores["rank"].notna().sum()) if "rank" in scores.columns else len(scores)
    top = "" if _missing(rank) or not n else _share_text(100 * int(rank) / n)
    if str((run.get("model") or {}).get("mode", "")).startswith("model"):
        note = ("a rank, not a probability: calibrated on reviewed accounts (banned vs cleared), "
                "it overstates the chance for an account nobody reviewed")
    else:
        note = "blacklist propagation: a relative scale, not a probability"
    return {"top_percent": top, "score_note": note}


def write_case_report(result: FlagResult, account_id: str, out: str | os.PathLike,
                      masker: Masker | None = None, **kwargs: Any) -> Path:
    """Write :func:`case_report_html` to ``out`` atomically; returns the path.

    The page is written to a temporary file next to ``out``, flushed to disk
    and moved into place (:func:`ringfence.graph.atomic.atomic_file`), so a
    reader never sees half a report. ``kwargs`` go to :func:`case_report_html`
    (``hops``, ``max_nodes``).
    """
    text = case_report_html(result, account_id, masker, **kwargs)
    with atomic_file(out, fsync=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)

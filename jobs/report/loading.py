"""Reading a finished flag run back for a case report.

:func:`load_run` reads the tables a flag job wrote (so a report shows exactly
the scores, ranks and reasons the run recorded) and rebuilds the account graph
(not the model) from the input files named in ``run.json``, after checking
their sha256, for the neighbourhood picture. Kept on its own: the project's
single run-folder reader will take its place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ringfence.jobs.flag import FlagResult
from ringfence.jobs.report.errors import ReportError

__all__ = ["load_run"]


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
    from ringfence.graph.atomic import file_sha256
    from ringfence.jobs.output import read_output

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

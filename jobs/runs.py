"""A run folder: what the flag job writes, and the one reader every command uses.

A run folder (``ringfence flag --out DIR``) holds the output tables
``scores``, ``identities``, ``links``, ``clusters``, ``evidence`` and ``queue``
(Parquet or CSV) and ``run.json``: parameters, inputs (paths and sha256), timings and
the summary. :func:`write_run` writes it atomically (readers see the old
folder or the new one); :func:`read_run` opens one for case reports, the
Neo4j sync, evaluation and notebooks, with one error class,
:class:`RunFolderError`.

Examples
--------
>>> import tempfile
>>> from ringfence.graph.synth import generate_platform
>>> from ringfence.graph.tables import load_tables
>>> from ringfence.jobs.flag import run_flag
>>> p = generate_platform(n_accounts=1000, seed=1)
>>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
>>> out = write_run(run_flag(t, scorer="propagation"), tempfile.mkdtemp() + "/flags")
>>> folder = read_run(out)
>>> len(folder.table("scores")) == 1000
True
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from ringfence.graph.atomic import atomic_directory, file_sha256, write_json
from ringfence.graph.config import load_config
from ringfence.graph.params import ConfigError
from ringfence.graph.progress import Stages
from ringfence.graph.tables import TABLES, InputError, InputWarning, Tables, load_tables
from ringfence.jobs.config import FORMATS

if TYPE_CHECKING:
    from ringfence.graph.pipeline import GraphState
    from ringfence.graph.subgraph import StoredGraph
    from ringfence.jobs.flag import FlagResult

__all__ = ["OUTPUT_TABLES", "RunFolderError", "RunFolder", "read_run", "read_table",
           "write_run", "write_table", "record_inputs"]

OUTPUT_TABLES = ("scores", "identities", "links", "clusters", "evidence", "queue")
# CSV columns that hold text: read as strings, never as numbers ("007" stays "007")
_TEXT_COLUMNS = {"account_id", "account_a", "account_b", "reasons", "kinds", "top_kind",
                 "top_identifier", "banned_account", "text", "path", "steps", "decision",
                 "decided_by", "status_vs_previous"}
_TIME_COLUMNS = ("first_activity", "last_activity", "decided_at", "first_flagged_at")


class RunFolderError(ValueError):
    """A run folder cannot be read (missing, not a run, changed inputs); one line."""


# OWASP's CSV-injection rule: a spreadsheet runs a cell starting with one of these as a
# formula; a leading quote makes it text. Cells already starting with a quote get one too,
# so that removing exactly one on reading is exact.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_REQUIRED_COLUMNS = {"scores": ("account_id", "score"), "identities": ("identity_id",),
                     "links": ("account_a", "account_b"), "clusters": ("cluster_id",),
                     "evidence": ("account_id",), "queue": ("account_id", "rank")}


def _string_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding text cells (the ones a ``.str`` accessor works on)."""
    return [c for c in df.columns
            if isinstance(df[c].dtype, pd.StringDtype) or (
                df[c].dtype == object and pd.api.types.infer_dtype(df[c], skipna=True)
                in ("string", "mixed", "mixed-integer"))]


def _escape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with a quote before every text cell that starts like a formula."""
    out = df.copy(deep=False)
    for c in _string_columns(df):
        s = df[c]
        hit = s.str.startswith(_FORMULA_STARTS, na=False).to_numpy(bool)
        if hit.any():
            out[c] = s.mask(hit, "'" + s[hit])
    return out


def write_table(df: pd.DataFrame, directory: str | os.PathLike, name: str, fmt: str) -> Path:
    """Write ``df`` as ``directory/name.parquet`` or ``.csv``; returns the path.

    In CSV, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a
    carriage return or a single quote gets a single quote in front (OWASP's
    rule against CSV injection: a spreadsheet shows it as text instead of
    running a formula); :func:`read_table` removes it again. Lines end in
    CRLF, as RFC 4180 has it.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"account_id": ["=1+1", "'x", "a"], "score": [-0.5, 0.0, 1.0]})
    >>> print(write_table(df, d, "scores", "csv").read_text().strip())
    account_id,score
    '=1+1,-0.5
    ''x,0.0
    a,1.0
    >>> read_table(d, "scores")["account_id"].tolist()
    ['=1+1', "'x", 'a']
    """
    directory = Path(directory)
    if fmt == "parquet":
        path = directory / f"{name}.parquet"
        df.to_parquet(path, index=False)
    elif fmt == "csv":
        path = directory / f"{name}.csv"
        # CRLF line ends (RFC 4180) make the csv writer quote every cell holding a CR, which
        # a reader would otherwise take for the end of the row
        _escape_formulas(df).to_csv(path, index=False, lineterminator="\r\n")
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    return path


def read_table(directory: str | os.PathLike, name: str) -> pd.DataFrame:
    """Table ``name`` of a run folder, whichever format it was written in.

    CSV text columns (ids, reasons, masks) are read as strings, so ids such
    as ``007`` keep their leading zeros, and the quote :func:`write_table`
    put before formula-like cells is removed; cluster times are parsed as UTC.

    Raises
    ------
    RunFolderError
        The table is missing, unreadable (corrupt, truncated, not a table)
        or lacks a column every reader needs; the message names the file.
    """
    d = Path(directory)
    path = d / f"{name}.parquet"
    if not path.exists():
        path = d / f"{name}.csv"
    if not path.exists():
        raise RunFolderError(f"{d}: no {name}.parquet or {name}.csv "
                             "(is this a flag job's --out directory?)")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)
    except (OSError, ValueError, pd.errors.ParserWarning) as e:  # parse errors: ValueErrors
        first = ("a row has more fields than the header" if isinstance(e, Warning)
                 else str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        raise RunFolderError(f"{path}: cannot read this table, it is damaged or not a "
                             f"{path.suffix[1:]} table ({first})") from None
    if "rank" in df.columns and df["rank"].dtype.kind == "f":  # Spark's Parquet: no pandas types
        df["rank"] = df["rank"].astype("Int64")
    missing = [c for c in _REQUIRED_COLUMNS.get(name, ()) if c not in df.columns]
    if missing:
        raise RunFolderError(f"{path}: not a run's {name} table (no column "
                             f"{', '.join(map(repr, missing))})")
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    head = pd.read_csv(path, nrows=0).columns
    # a first row with one field too many would silently become the index: refuse it
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        df = pd.read_csv(path, dtype={c: str for c in head if c in _TEXT_COLUMNS},
                         keep_default_na=False, index_col=False,
                         na_values={c: ["", "NA", "NaN", "nan"] for c in head
                                    if c not in _TEXT_COLUMNS})
    for c in _string_columns(df):
        hit = df[c].str.startswith("'", na=False).to_numpy(bool)
        if hit.any():
            df[c] = df[c].mask(hit, df[c][hit].str.slice(1))
    for c in _TIME_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    if "rank" in df.columns:
        df["rank"] = df["rank"].astype("Int64")
    return df


def record_inputs(run: dict[str, Any], tables: Tables) -> None:
    """Add the absolute path, size and sha256 of every input file to ``run['inputs']``."""
    for name, src in tables.sources.items():
        p = Path(src)
        if p.is_file():
            info = run["inputs"].setdefault(name, {"source": src})
            info["path"] = str(p.resolve())
            info["sha256"] = file_sha256(p)
            info["bytes"] = p.stat().st_size


def write_run(result: "FlagResult", out_dir: str | os.PathLike, fmt: str = "parquet", *,
              stages: Stages | None = None,
              writer: Callable[[pd.DataFrame, Path, str], Path] | None = None) -> Path:
    """Write a :class:`~ringfence.jobs.flag.FlagResult` into ``out_dir`` atomically.

    Files: ``scores``, ``identities``, ``links``, ``clusters``, ``evidence``, ``queue`` (in
    ``fmt``), the graph around the flagged accounts in ``graph_*.parquet`` (when
    the result has one: :mod:`ringfence.graph.subgraph`; run.json's
    ``subgraph`` describes it) and ``run.json``,
    which is written last, once, with the timing of the write itself. A
    failure leaves the previous folder as it was. ``writer(df, folder, name)``
    writes the tables instead (the Spark engine's Parquet folders), in the
    same temporary folder.
    """
    from ringfence.graph.subgraph import write_stored_graph

    whole_job = stages is not None
    stages = stages or Stages(quiet=True)
    with atomic_directory(out_dir) as tmp:
        with stages.stage("write outputs"):
            files = {name: (writer(getattr(result, name), tmp, name) if writer is not None
                            else write_table(getattr(result, name), tmp, name, fmt)).name
                     for name in OUTPUT_TABLES}
            if writer is not None:
                fmt = "parquet"
            kept = (write_stored_graph(result.subgraph, tmp)
                    if result.subgraph is not None else None)
        run = result.run
        if kept is not None:
            run["subgraph"] = kept
        # a caller's Stages timed the whole job; our own timed only the write, which must
        # add to the job's timings, not replace them
        run["stage_seconds"] = {**run.get("stage_seconds", {}), **stages.timings}
        run["stage_peak_rss_mib"] = {**run.get("stage_peak_rss_mib", {}), **stages.peak_mib}
        if whole_job:
            run["summary"]["seconds"] = round(stages.elapsed, 2)
        write_json({**run, "outputs": files, "format": fmt}, tmp / "run.json")
    return Path(out_dir)


class RunFolder:
    """A finished run: its record, its output tables, and what its inputs rebuild.

    Use :func:`read_run` to open one. Tables are read when first asked for.
    """

    def __init__(self, path: Path, run: dict[str, Any]):
        self.path = path
        self.run = run
        self.notes: list[str] = []
        self._tables: dict[str, pd.DataFrame] = {}
        self._stored: StoredGraph | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def table(self, name: str) -> pd.DataFrame:
        """One output table (``scores``, ``identities``, ``links``, ``clusters``, ``evidence``)."""
        if name not in self._tables:
            self._tables[name] = read_table(self.path, name)
        return self._tables[name]

    def _locate(self, name: str, info: dict[str, Any]) -> Path | None:
        source = str(info.get("source", ""))
        p = _resolve(str(info["path"]), self.path) if info.get("path") else None
        return p or _resolve(source, self.path)

    def changed_inputs(self) -> dict[str, str]:
        """Inputs that are not as the run read them: name -> what is wrong, one line.

        ``"sha256 differs"`` (the file was changed in place) or ``"missing"``
        (no file where the run found it); an input without a recorded sha256
        is not checked, one made from a DataFrame is ``"not a file"``.
        """
        out: dict[str, str] = {}
        for name, info in (self.run.get("inputs") or {}).items():
            p = self._locate(name, info)
            if p is None:
                source = str(info.get("source", ""))
                out[name] = "not a file" if source.endswith("(DataFrame)") else "missing"
            elif info.get("sha256") and file_sha256(p) != info["sha256"]:
                out[name] = f"sha256 differs ({p})"
        return out

    def has_stored_graph(self) -> bool:
        """Did the run keep the graph around its flagged accounts (``graph_*.parquet``)?"""
        meta = self.run.get("subgraph")
        return isinstance(meta, dict) and isinstance(meta.get("files"), dict) and all(
            (self.path / str(f)).is_file() for f in meta["files"].values())

    def stored_graph(self) -> StoredGraph:
        """The graph around the run's flagged accounts, as the run kept it.

        Identifier values are the run's masks
        (:class:`~ringfence.graph.subgraph.RecordedMasks` shows them as they
        are). Raises :class:`RunFolderError` when the run kept none (a run
        written before runs kept it) or it cannot be read.
        """
        from ringfence.graph.subgraph import read_stored_graph

        if self._stored is None:
            if not self.has_stored_graph():
                raise RunFolderError(f"{self.path}: this run kept no graph around its flagged "
                                     "accounts (no graph_*.parquet files)")
            try:
                config = load_config((self.run.get("parameters") or {}).get("config") or {})
            except ConfigError:
                config = None
            try:
                self._stored = read_stored_graph(
                    self.path, self.run["subgraph"], config)
            except (OSError, ValueError, KeyError) as e:
                raise RunFolderError(f"{self.path}: cannot read the graph the run kept "
                                     f"({e})") from None
        return self._stored

    def input_paths(self, *, required: bool = True) -> dict[str, Path] | None:
        """The run's input files, checked against the sha256 it recorded.

        Paths are tried as recorded (absolute), then as given relative to the
        current directory and to the run folder. ``required=False`` returns
        None (with a note) for a run made from DataFrames instead of raising.
        """
        paths: dict[str, Path] = {}
        for name, info in (self.run.get("inputs") or {}).items():
            source = str(info.get("source", ""))
            p = self._locate(name, info)
            if p is None:
                if source.endswith("(DataFrame)") and not required:
                    self.notes.append(f"{name} was a DataFrame: the graph cannot be rebuilt")
                    return None
                raise RunFolderError(f"{self.path}/run.json: the {name} input {source!r} is not "
                                     "a file any more (or the run was made from DataFrames); "
                                     "run from the directory the flag job ran in")
            want = info.get("sha256")
            if want and info.get("append_only"):
                continue  # a decisions log grows: read_logged checks the part the run read
            if want and file_sha256(p) != want:
                raise RunFolderError(f"{p}: the {name} input changed since the run (sha256 "
                                     "differs); flag it again first")
            if not want:
                self.notes.append(f"{name}: no sha256 recorded, not checked")
            paths[name] = p
        if "accounts" not in paths:
            raise RunFolderError(f"{self.path}/run.json: no accounts input recorded")
        return paths

    def inputs(self, *, required: bool = True) -> Tables | None:
        """The run's input tables, read and validated again (see :meth:`input_paths`)."""
        paths = self.input_paths(required=required)
        if paths is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            try:
                return load_tables(**{k: paths.get(k) for k in TABLES if k != "decisions"},
                                   decisions=self.decisions(),
                                   time_format=self.run.get("time_format"))
            except InputError as e:
                raise RunFolderError(f"{self.path}: its inputs no longer validate: "
                                     f"{str(e).splitlines()[0]}") from None

    def decisions(self) -> pd.DataFrame | None:
        """The decisions log as this run read it (later appends left out), or None.

        Raises :class:`RunFolderError` when the log's start was rewritten since.
        """
        from ringfence.jobs.decisions_log import read_logged

        info = (self.run.get("inputs") or {}).get("decisions")
        if not info or not info.get("path"):
            return None
        p = _resolve(str(info["path"]), self.path) or _resolve(str(info.get("source", "")),
                                                                self.path)
        df = None if p is None else read_logged(p, info)
        if df is None:
            raise RunFolderError(f"{info['path']}: the decisions log is not the one this run "
                                 "read (gone, or rewritten: it may only be appended to)")
        return df

    def rebuild(self, tables: Tables, stop_after: str = "identities") -> "GraphState":
        """The run's graph stages again, with its config and as-of time, up to ``stop_after``."""
        from ringfence.graph.pipeline import run_pipeline

        try:
            config = load_config((self.run.get("parameters") or {}).get("config") or {})
        except ConfigError as e:
            raise RunFolderError(f"{self.path}/run.json: cannot read the run's config "
                                 f"({e})") from None
        return run_pipeline(tables, config, as_of=self.run.get("as_of"), stop_after=stop_after)

    def result(self, *, rebuild: bool = True) -> "FlagResult":
        """The run as a :class:`~ringfence.jobs.flag.FlagResult` (for case reports).

        Scores, ranks and reasons are the run's own. With ``rebuild`` the
        graph and identities are rebuilt from the inputs (the model is not
        refitted) when they are as the run read them; when one changed, is
        gone or was a DataFrame, the graph the run kept around its flagged
        accounts is used instead (:meth:`stored_graph`) and
        ``run["loaded_from"]["changed_inputs"]`` says which inputs changed.
        Without ``rebuild``, or with neither, ``state`` is None. The kept graph
        travels in ``subgraph``, so writing the result again keeps it.
        """
        from ringfence.graph.pipeline import GraphState
        from ringfence.graph.subgraph import RecordedMasks
        from ringfence.jobs.flag import FlagResult

        state, masker, graph_from = None, None, "none"
        changed = self.changed_inputs() if rebuild else {}
        if rebuild and (not changed or not self.has_stored_graph()):
            tables = self.inputs(required=False)
            if tables is not None:
                state, graph_from = self.rebuild(tables, "identities"), "inputs"
        elif rebuild:
            state = GraphState(graph=self.stored_graph().graph)
            masker, graph_from = RecordedMasks(), "stored"
            self.notes.append("inputs changed since the run: " + "; ".join(
                f"{k}: {v}" for k, v in changed.items()) + " (using the graph the run kept "
                "around its flagged accounts)")
        run = dict(self.run)
        run["loaded_from"] = {"directory": str(self.path), "graph_rebuilt": graph_from == "inputs",
                              "graph": graph_from, "changed_inputs": changed,
                              "notes": list(self.notes)}
        # the queue is made from scores (and older runs have none)
        return FlagResult(**{n: self.table(n) for n in OUTPUT_TABLES if n != "queue"}, run=run,
                          state=state, masker=masker,
                          subgraph=self.stored_graph() if self.has_stored_graph() else None)


def _resolve(source: str, run_dir: Path) -> Path | None:
    """An input file a run recorded, relative to the current directory or the run's."""
    p = Path(source)
    for cand in (p, run_dir.parent / p, run_dir / p) if not p.is_absolute() else (p,):
        if cand.is_file():
            return cand
    return None


def read_run(run_dir: str | os.PathLike) -> RunFolder:
    """Open a run folder written by ``ringfence flag --out`` (or :func:`write_run`).

    Raises
    ------
    RunFolderError
        No such folder, no ``run.json``, or a ``run.json`` that is not JSON.

    Notes
    -----
    Cost: reading ``run.json``; tables and inputs are read on demand.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise RunFolderError(f"{d}: no such run directory (give a flag job's --out)")
    path = d / "run.json"
    if not path.is_file():
        raise RunFolderError(f"{d}: no run.json here (is this a flag job's --out?)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{path}: cannot read it ({e})") from None
    if not isinstance(run, dict):
        raise RunFolderError(f"{path}: not a run record")
    return RunFolder(d, run)

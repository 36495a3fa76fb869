"""Identity quality of a flag run against a truth table (``ringfence evaluate``)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ringfence.jobs.runs import RunFolderError, read_run
from ringfence.models.identity_quality import format_identity_quality, identity_quality

__all__ = ["identity_quality_of_run"]


def identity_quality_of_run(run_dir: str | os.PathLike, scores: pd.DataFrame,
                            truth: pd.DataFrame) -> str:
    """The identity-quality lines of a run: its ``identity_id`` per account against ``truth``.

    The pairs that share an identifier value (for the stranger share) come from
    the run's graph, rebuilt from its inputs; when the inputs are gone, the
    stranger pairs are counted without that share and a note says why.
    """
    ids = truth["account_id"].astype(str)
    identity = (scores.set_index(scores["account_id"].astype(str))["identity_id"]
                .reindex(ids).fillna(-1).to_numpy(np.int64))
    candidates, note = None, None
    try:
        run = read_run(run_dir)
        tables = run.inputs(required=False)
        if tables is None:
            note = "the run's inputs were DataFrames"
        else:
            graph = run.rebuild(tables, "build").graph
            pos = pd.Index(ids).get_indexer(pd.Index(graph.account_ids))
            a, b = pos[graph.pairs["a"].to_numpy()], pos[graph.pairs["b"].to_numpy()]
            known = (a >= 0) & (b >= 0)
            candidates = (a[known], b[known])
    except RunFolderError as e:
        note = str(e)
    text = format_identity_quality(identity_quality(identity, truth, candidates))
    if note:
        text += f"\n  (no stranger share: {note})"
    return text

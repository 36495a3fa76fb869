"""The identifier masks a flag run showed, recovered for its case reports.

A report masks identifiers with the masker it is given; when that is not the
run's key, :func:`masks_match` says so and :func:`recorded_masks` recovers the
masks the run itself printed (in its links and evidence), so the picture can
name those identifiers as the run's reasons did.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from ringfence.graph.masking import Masker
from ringfence.jobs.flag import FlagResult

__all__ = ["recorded_masks", "masks_match"]


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


def recorded_masks(result: FlagResult) -> dict[int, str]:
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


def masks_match(result: FlagResult, masker: Masker) -> bool | None:
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

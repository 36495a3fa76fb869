"""Edges: transfers and messages between accounts, and when they happen.

Sparse background transfers and messages with some locality (a latent 1-D
social space), household messages, self-dealing between an actor's
concurrent accounts, dense transfers inside rings, and offender-victim edges
(fraud transfers, spam and harassment messages). Times are drawn last
(:func:`time_edges`), inside both accounts' active windows; edges that have
no such time are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.arrays import group_pairs, uniform_between
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.vocabulary import MESSAGE, TRANSFER

__all__ = ["EdgeLog", "draw_edges", "time_edges"]


@dataclass
class EdgeLog:
    """Edges as they are drawn (no self-loops), with transfer amounts (NaN for messages)."""

    src: list[np.ndarray] = field(default_factory=list)
    dst: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    amt: list[np.ndarray] = field(default_factory=list)

    def add(self, rng: np.random.Generator, s: np.ndarray, d: np.ndarray, kind: np.ndarray,
            median: float) -> None:
        """Edges ``s[i] -> d[i]`` of ``kind``; transfer amounts log-normal around ``median``."""
        keep = s != d
        s, d, kind = s[keep], d[keep], kind[keep]
        amt = np.round(np.maximum(rng.lognormal(np.log(median), 1.0, len(s)), 1.0), 2)
        self.src.append(s.astype(np.int64))
        self.dst.append(d.astype(np.int64))
        self.kind.append(kind.astype(np.int8))
        self.amt.append(np.where(kind == TRANSFER, amt, np.nan))

    def rows(self) -> dict[str, np.ndarray]:
        """All edges: ``src_e, dst_e, kind_e, amt_e``; the log is emptied."""
        rows = dict(src_e=np.concatenate(self.src), dst_e=np.concatenate(self.dst),
                    kind_e=np.concatenate(self.kind), amt_e=np.concatenate(self.amt))
        self.src, self.dst, self.kind, self.amt = [], [], [], []
        return rows


def draw_edges(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts) -> dict[str, np.ndarray]:
    """Who transacts with or messages whom: ``src_e, dst_e, kind_e, amt_e`` (no times yet)."""
    n, n_off, n_ord, is_off = acc.n, acc.n_off, acc.n_ord, acc.is_off
    household, ring, actor, atype = acc.household, acc.ring, acc.actor, acc.atype
    n_households, n_rings, o = acc.n_households, acc.n_rings, acc.offenders
    hh_members = acc.hh_members
    log = EdgeLog()
    # activity-weighted picks: each account holds 1+ "tickets", draw tickets uniformly
    activity = rng.lognormal(0.0, 1.0, n) * np.where(is_off, 0.7, 1.0)
    tickets = np.repeat(np.arange(n), np.clip(np.round(2 * activity), 1, 200).astype(np.int64))
    m_bg = int(round(cfg.background_edges_per_account * n))
    s = tickets[rng.integers(0, len(tickets), m_bg)]
    pos = rng.permutation(n)  # a latent 1-D social space: local edges stay near
    at_pos = np.empty(n, np.int64)
    at_pos[pos] = np.arange(n)
    offset = (1 + rng.geometric(1 / 40, m_bg)) * np.where(rng.random(m_bg) < 0.5, -1, 1)
    local_d = at_pos[(pos[s] + offset) % n]
    d = np.where(rng.random(m_bg) < 0.6, local_d, tickets[rng.integers(0, len(tickets), m_bg)])
    log.add(rng, s, d, np.where(rng.random(m_bg) < 0.35, TRANSFER, MESSAGE), 35.0)
    del s, d, local_d, offset, tickets, pos, at_pos, activity
    if n_households:
        a, b, _ = group_pairs(hh_members, household[hh_members])
        k = 1 + rng.poisson(1.5, len(a))
        a, b = np.repeat(a, k), np.repeat(b, k)
        log.add(rng, a, b, np.where(rng.random(len(a)) < 0.15, TRANSFER, MESSAGE), 40.0)
    if n_off:
        sib = np.flatnonzero(~o.primary)
        prim_of = o.source[sib]  # a sibling's source is its generation's primary
        k = np.where(rng.random(len(sib)) < 0.6, 1 + rng.poisson(1.0, len(sib)), 0)
        a, b = np.repeat(sib, k), np.repeat(prim_of, k)
        flip = rng.random(len(a)) < 0.5
        log.add(rng, np.where(flip, b, a), np.where(flip, a, b),
                np.where(rng.random(len(a)) < 0.75, TRANSFER, MESSAGE), 200.0)
        if n_rings:
            racc = np.flatnonzero(ring >= 0)
            a, b, _ = group_pairs(racc, ring[racc])
            keep = (a < b) & (actor[a] != actor[b]) & (rng.random(len(a)) < cfg.ring_density)
            a, b = a[keep], b[keep]
            k = 1 + rng.poisson(1.5, len(a))
            a, b = np.repeat(a, k), np.repeat(b, k)
            flip = rng.random(len(a)) < 0.5
            log.add(rng, np.where(flip, b, a), np.where(flip, a, b),
                    np.where(rng.random(len(a)) < 0.9, TRANSFER, MESSAGE), 400.0)
        # victims
        k = rng.poisson(cfg.victims_per_offender_account, n_off)
        off_a = np.repeat(np.arange(n_off), k)
        vic = n_off + np.minimum(np.floor(rng.random(len(off_a)) * n_ord).astype(np.int64),
                                 n_ord - 1)
        fraud = atype[off_a] == 0
        log.add(rng, np.where(fraud, vic, off_a), np.where(fraud, off_a, vic),
                np.where(fraud, TRANSFER, MESSAGE), 150.0)
    return log.rows()


def time_edges(rng: np.random.Generator, rows: dict[str, np.ndarray], created: np.ndarray,
               end: np.ndarray) -> dict[str, np.ndarray]:
    """Times and weights: adds ``at_e`` and ``weight_e`` to ``rows`` (filtered).

    An edge happens inside both accounts' active windows (with a minute to
    spare at each end); edges whose windows overlap by 10 minutes or less are
    dropped. ``weight`` is ``log1p(amount)`` for transfers and a number of
    messages for messages.
    """
    src_e, dst_e, kind_e, amt_e = rows["src_e"], rows["dst_e"], rows["kind_e"], rows["amt_e"]
    lo_e = np.maximum(created[src_e], created[dst_e])
    hi_e = np.minimum(end[src_e], end[dst_e])
    ok = hi_e - lo_e > 600
    src_e, dst_e, kind_e, amt_e, lo_e, hi_e = (
        x[ok] for x in (src_e, dst_e, kind_e, amt_e, lo_e, hi_e))
    at_e = uniform_between(rng, lo_e + 60, hi_e - 60)
    n_msgs = rng.geometric(0.35, len(src_e)).astype(np.float64)
    weight_e = np.where(kind_e == TRANSFER, np.round(np.log1p(np.nan_to_num(amt_e, nan=1.0)), 4),
                        n_msgs)
    return dict(src_e=src_e, dst_e=dst_e, kind_e=kind_e, amt_e=amt_e, at_e=at_e,
                weight_e=weight_e)

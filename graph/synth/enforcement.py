"""Enforcement: violations and bans of offenders, label noise on ordinary users, cleared reviews.

Offender accounts get violations then (for some) a ban; the ban of a
generation's primary is mandatory, since the next generation evades it.
``hidden_share`` of the offender accounts (mostly the newest) get no record.
Ordinary users get a few wrong bans (``wrong_ban_rate``, half of them next to
offenders), rare violations, and ``cleared`` reviews.

The steps run at fixed points of :func:`~ringfence.graph.synth.generate_platform`
(they draw from the shared random generator), and they set or move ``end``,
the last moment each account is active, which the edge and identifier times
respect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.arrays import uniform_between
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.offenders import hidden_count
from ringfence.graph.synth.vocabulary import (BAN, CHARGEBACK, CLEARED, DAY, FRAUD, HARASSMENT,
                                              HOUR, SPAM, VIOLATION)

__all__ = ["EnforcementLog", "OffenderEnforcement", "enforce_offenders", "enforce_ordinary",
           "clear_reviews"]


@dataclass
class EnforcementLog:
    """Enforcement records as they are drawn, in blocks of one action."""

    acct: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    at: list[np.ndarray] = field(default_factory=list)
    reason: list[np.ndarray] = field(default_factory=list)

    def add(self, acct: np.ndarray, action: int, at: np.ndarray, reason: np.ndarray) -> None:
        """Record ``action`` on each of ``acct`` at ``at`` for ``reason`` (-1: none)."""
        self.acct.append(acct.astype(np.int64))
        self.action.append(np.full(len(acct), action, np.int8))
        self.at.append(at.astype(np.int64))
        self.reason.append(reason.astype(np.int8))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(account, action, at, reason)`` of every record, in the order recorded."""
        return (np.concatenate(self.acct) if self.acct else np.zeros(0, np.int64),
                np.concatenate(self.action) if self.action else np.zeros(0, np.int8),
                np.concatenate(self.at) if self.at else np.zeros(0, np.int64),
                np.concatenate(self.reason) if self.reason else np.zeros(0, np.int8))


@dataclass
class OffenderEnforcement:
    """What :func:`enforce_offenders` decided.

    Attributes
    ----------
    end : numpy.ndarray
        Last active moment of each account (its ban, else the end of the window).
    hidden : numpy.ndarray
        Offender accounts without any record.
    n_bans : int
        Bans of offender accounts.
    """

    end: np.ndarray
    hidden: np.ndarray
    n_bans: int


def reasons_for(rng: np.random.Generator, atype: np.ndarray, acct: np.ndarray) -> np.ndarray:
    """Violation reasons by actor type (10 % off-type)."""
    t = atype[acct]
    u = rng.random(len(acct))
    r = np.where(t == 0, np.where(u < 0.6, FRAUD, CHARGEBACK),
                 np.where(t == 1, SPAM, HARASSMENT))
    noise = rng.random(len(acct)) < 0.10
    return np.where(noise, rng.integers(0, 4, len(acct)), r)


def enforce_offenders(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
                      log: EnforcementLog) -> OffenderEnforcement:
    """Hide some offender accounts; give the others violations and (some) a ban.

    Examples
    --------
    >>> from ringfence.graph.synth.accounts import draw_accounts
    >>> rng, cfg = np.random.default_rng(0), SynthConfig()
    >>> acc = draw_accounts(rng, cfg, 1_000, 365 * 86_400)
    >>> out = enforce_offenders(rng, cfg, acc, EnforcementLog())
    >>> int(out.hidden.sum()) == round(cfg.hidden_share * acc.n_off)
    True
    """
    n, n_off, W, created = acc.n, acc.n_off, acc.W, acc.created
    end = np.full(n, W, np.int64)  # last moment each account is active
    hidden = np.zeros(n, bool)
    if not n_off:
        return OffenderEnforcement(end=end, hidden=hidden, n_bans=0)
    o = acc.offenders
    mandatory = o.mandatory_ban
    eligible = ~mandatory
    score = created[:n_off] + rng.exponential(90 * DAY, n_off)
    score[~eligible] = -np.inf
    hid = np.argsort(-score, kind="stable")[:hidden_count(cfg, n_off)]
    hidden[hid] = True
    rest = eligible & ~hidden[:n_off]
    ban_rest = rest & (rng.random(n_off) < cfg.offender_ban_rate)
    c = created[:n_off]
    life = np.maximum(rng.lognormal(np.log(35 * DAY), 0.9, n_off), 6 * HOUR)
    t_ban = c + life.astype(np.int64)
    late = t_ban >= W - HOUR
    t_late = c + (rng.uniform(0.3, 0.95, n_off) * (W - HOUR - c)).astype(np.int64)
    t_ban = np.where(late, t_late, t_ban)
    ban_t = np.where(mandatory, o.chain_ban, t_ban)
    is_banned = mandatory | ban_rest
    end[:n_off] = np.where(is_banned, ban_t, W)
    flagged = np.flatnonzero(mandatory | rest)
    k_v = 1 + rng.poisson(1.2, len(flagged))
    v_acct = np.repeat(flagged, k_v)
    v_lo = created[v_acct] + 60
    v_hi = end[v_acct] - 60
    log.add(v_acct, VIOLATION, uniform_between(rng, v_lo, v_hi),
            reasons_for(rng, acc.atype, v_acct))
    b_acct = np.flatnonzero(is_banned)
    log.add(b_acct, BAN, end[b_acct], reasons_for(rng, acc.atype, b_acct))
    return OffenderEnforcement(end=end, hidden=hidden, n_bans=int(is_banned.sum()))


def enforce_ordinary(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
                     end: np.ndarray, near: np.ndarray, n_off_bans: int,
                     log: EnforcementLog) -> tuple[np.ndarray, np.ndarray]:
    """Wrong bans (label noise) and violations of ordinary accounts.

    ``wrong_ban_rate`` of all bans hit ordinary accounts, half of them among
    those ``near`` an offender; a wrongly banned account's ``end`` moves to its
    ban (in place). Returns the masks ``(wrong, violated)``.
    """
    n, n_off, n_ord, W, created = acc.n, acc.n_off, acc.n_ord, acc.W, acc.created
    ordinary = np.arange(n_off, n)
    wrong = np.zeros(n, bool)
    r = cfg.wrong_ban_rate
    m_wrong = min(int(round(r * n_off_bans / (1.0 - r))), n_ord)
    if m_wrong:
        near_pool = ordinary[near[ordinary]]
        k_near = min(int(round(0.5 * m_wrong)), len(near_pool))
        pick = near_pool[rng.choice(len(near_pool), k_near, replace=False)] if k_near \
            else np.zeros(0, np.int64)
        wrong[pick] = True
        rest_pool = ordinary[~wrong[ordinary]]
        pick2 = rest_pool[rng.choice(len(rest_pool), m_wrong - k_near, replace=False)]
        wrong[pick2] = True
        w_acc = np.flatnonzero(wrong)
        c = created[w_acc]
        t_ban = c + (rng.uniform(0.15, 0.95, len(w_acc)) * (W - HOUR - c)).astype(np.int64)
        end[w_acc] = t_ban
        has_v = rng.random(len(w_acc)) < 0.6
        va = w_acc[has_v]
        log.add(va, VIOLATION, uniform_between(rng, created[va] + 60, end[va] - 60),
                rng.choice(4, len(va), p=[0.35, 0.35, 0.2, 0.1]))
        log.add(w_acc, BAN, end[w_acc], rng.choice(4, len(w_acc), p=[0.4, 0.3, 0.2, 0.1]))
    violated = np.zeros(n, bool)
    k_viol = int(round(cfg.ordinary_violation_rate * n_ord))
    pool_v = ordinary[~wrong[ordinary]]
    k_viol = min(k_viol, len(pool_v))
    if k_viol:
        va = pool_v[rng.choice(len(pool_v), k_viol, replace=False)]
        violated[va] = True
        va = np.repeat(va, np.where(rng.random(k_viol) < 0.15, 2, 1))
        log.add(va, VIOLATION, uniform_between(rng, created[va] + 60, end[va] - 60),
                rng.choice(4, len(va), p=[0.10, 0.40, 0.15, 0.35]))
    return wrong, violated


def clear_reviews(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
                  near_final: np.ndarray, wrong: np.ndarray, violated: np.ndarray,
                  log: EnforcementLog) -> None:
    """``cleared`` reviews of ordinary accounts with no other record.

    ``max(min_cleared, cleared_share * n_ord)`` of them, a
    ``cleared_near_offender_share`` of those among the accounts ``near_final``
    to an offender.
    """
    n, n_off, n_ord, W, created = acc.n, acc.n_off, acc.n_ord, acc.W, acc.created
    ordinary = np.arange(n_off, n)
    k_clear = max(cfg.min_cleared, int(round(cfg.cleared_share * n_ord)))
    pool_c = ordinary[~wrong[ordinary] & ~violated[ordinary]]
    k_clear = min(k_clear, len(pool_c))
    cleared = np.zeros(n, bool)
    if k_clear:
        near_c = pool_c[near_final[pool_c]]
        k_near = min(int(round(cfg.cleared_near_offender_share * k_clear)), len(near_c))
        if k_near:
            cleared[near_c[rng.choice(len(near_c), k_near, replace=False)]] = True
        rest_c = pool_c[~cleared[pool_c]]
        cleared[rest_c[rng.choice(len(rest_c), k_clear - k_near, replace=False)]] = True
        ca = np.flatnonzero(cleared)
        c = created[ca]
        log.add(ca, CLEARED, c + (rng.uniform(0.1, 0.99, len(ca)) * (W - 60 - c)).astype(np.int64),
                np.full(len(ca), -1))

"""Account attributes: activity, payments, profile; offenders shifted modestly.

The distributions of offenders and ordinary users overlap (no attribute gives
them away) but differ enough for a model to learn something.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ringfence.graph.synth.vocabulary import CHANNEL_P, CHANNEL_P_OFF

__all__ = ["AccountAttributes", "draw_attributes"]


@dataclass
class AccountAttributes:
    """One value per account for the ``accounts`` table's attribute columns.

    ``channel`` indexes :data:`~ringfence.graph.synth.vocabulary.CHANNELS`.
    """

    logins: np.ndarray
    session: np.ndarray
    volume: np.ndarray
    failed: np.ndarray
    complete: np.ndarray
    channel: np.ndarray


def draw_attributes(rng: np.random.Generator, is_off: np.ndarray) -> AccountAttributes:
    """Logins, session length, payment volume, failed payments, profile completeness, channel.

    Examples
    --------
    >>> a = draw_attributes(np.random.default_rng(0), np.array([True, False, False]))
    >>> len(a.logins), bool((a.complete <= 1).all())
    (3, True)
    """
    n = len(is_off)
    off_f = is_off.astype(np.float64)
    lam = rng.lognormal(np.log(12.0) + 0.25 * off_f, 0.8 + 0.1 * off_f)
    logins = rng.poisson(lam).astype(np.int64)
    session = np.round(rng.lognormal(np.log(9.0) - 0.2 * off_f, 0.7 + 0.1 * off_f), 2)
    pays = rng.random(n) >= np.where(is_off, 0.28, 0.35)
    volume = np.round(np.where(pays, rng.lognormal(np.log(120.0) + 0.35 * off_f, 1.2 + 0.1 * off_f),
                               0.0), 2)
    failed = rng.poisson(np.where(is_off, 0.55, 0.25)).astype(np.int64)
    complete = np.round(rng.beta(np.where(is_off, 5.0, 6.0), np.where(is_off, 2.3, 2.0)), 3)
    u = rng.random(n)
    channel = np.where(is_off, np.searchsorted(np.cumsum(CHANNEL_P_OFF), u * 0.999999),
                       np.searchsorted(np.cumsum(CHANNEL_P), u * 0.999999))
    return AccountAttributes(logins=logins, session=session, volume=volume, failed=failed,
                             complete=complete, channel=channel)

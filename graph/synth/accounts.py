"""Who the accounts are: offenders first, then ordinary users, some in households.

Accounts are numbered ``0 .. n-1`` inside the generator: offender accounts
take ``0 .. n_off-1`` (actor-major, see :mod:`~ringfence.graph.synth.offenders`),
ordinary accounts the rest. Public ids are drawn only at the end
(:mod:`~ringfence.graph.synth.assemble`), so the numbering reveals nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ringfence.graph.synth.arrays import split_into_groups
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.offenders import OffenderChains, draw_offenders
from ringfence.graph.synth.vocabulary import DAY, EVADER, MULTI, OFFENDER, ORDINARY

__all__ = ["Accounts", "draw_accounts"]


@dataclass
class Accounts:
    """Per-account arrays (length ``n``) that every later step reads.

    Attributes
    ----------
    n, n_off, n_ord : int
        Accounts in all, offender accounts (numbered first), ordinary accounts.
    W : int
        Length of the time window in seconds; times are seconds into it.
    offenders : OffenderChains or None
        The offender simulation (``None`` without offenders).
    created : numpy.ndarray
        Creation time of each account.
    actor, gen, role : numpy.ndarray
        Actor number (ordinary accounts are actors of their own), generation,
        role code (:data:`~ringfence.graph.synth.vocabulary.ORDINARY` ...).
    rotator, is_off : numpy.ndarray
        Full-rotator evasion accounts; offender accounts.
    ring, pred, atype, household : numpy.ndarray
        Ring number, predecessor account, actor type, household number (-1 if none).
    n_actors, n_off_actors, n_rings, n_households : int
        Counts of actors (all and offenders), rings and households.
    """

    n: int
    n_off: int
    n_ord: int
    W: int
    offenders: OffenderChains | None
    created: np.ndarray
    actor: np.ndarray
    gen: np.ndarray
    role: np.ndarray
    rotator: np.ndarray
    ring: np.ndarray
    pred: np.ndarray
    atype: np.ndarray
    is_off: np.ndarray
    household: np.ndarray
    n_actors: int
    n_off_actors: int
    n_rings: int
    n_households: int

    @property
    def hh_members(self) -> np.ndarray:
        """Accounts that live in a household."""
        return np.flatnonzero(self.household >= 0)


def draw_accounts(rng: np.random.Generator, cfg: SynthConfig, n: int, W: int) -> Accounts:
    """Simulate the offenders, then draw the ordinary accounts and their households.

    Examples
    --------
    >>> acc = draw_accounts(np.random.default_rng(0), SynthConfig(), 1_000, 365 * 86_400)
    >>> acc.n_off, int(acc.is_off.sum()), bool((acc.household[:acc.n_off] == -1).all())
    (30, 30, True)
    """
    n_off = int(round(cfg.offender_share * n))
    n_ord = n - n_off
    o = draw_offenders(rng, cfg, n_off, W)
    n_off_actors = o.n_actors if o is not None else 0

    created = np.empty(n, np.int64)
    created[n_off:] = np.minimum(np.floor(rng.beta(1.3, 1.0, n_ord) * W), W - 2 * DAY)
    actor = np.empty(n, np.int64)
    actor[n_off:] = n_off_actors + np.arange(n_ord)
    gen = np.zeros(n, np.int64)
    role = np.full(n, ORDINARY, np.int8)
    rotator = np.zeros(n, bool)
    ring = np.full(n, -1, np.int64)
    pred = np.full(n, -1, np.int64)
    atype = np.full(n, -1, np.int64)
    n_rings = 0
    if o is not None:
        created[:n_off] = o.created
        actor[:n_off] = o.actor
        gen[:n_off] = o.gen
        role[:n_off] = np.where(~o.primary, MULTI, np.where(o.gen >= 1, EVADER, OFFENDER))
        rotator[:n_off] = o.rotator
        ring[:n_off] = o.ring_of_actor[o.actor]
        pred[:n_off] = o.pred
        atype[:n_off] = o.actor_type[o.actor]
        n_rings = int(o.ring_of_actor.max()) + 1 if (o.ring_of_actor >= 0).any() else 0
    is_off = np.zeros(n, bool)
    is_off[:n_off] = True

    household = np.full(n, -1, np.int64)
    n_hh_members = int(round(cfg.household_share * n_ord))
    if n_hh_members >= cfg.household_size[0]:
        members = n_off + rng.permutation(n_ord)[:n_hh_members]
        household[members] = split_into_groups(rng, members, *cfg.household_size)
    n_households = int(household.max()) + 1 if n_hh_members else 0
    return Accounts(n=n, n_off=n_off, n_ord=n_ord, W=W, offenders=o, created=created,
                    actor=actor, gen=gen, role=role, rotator=rotator, ring=ring, pred=pred,
                    atype=atype, is_off=is_off, household=household,
                    n_actors=n_off_actors + n_ord, n_off_actors=n_off_actors, n_rings=n_rings,
                    n_households=n_households)

"""Offender actors: chains of accounts opened after each ban, multi-accounting, rings.

An offender *actor* opens an account (generation 0); after its ban it opens
the next generation, up to ``max_generations``. Actors chosen for
multi-accounting run extra accounts next to each generation's *primary*
account. Everything is simulated per actor at once (arrays of shape
``(actors, max_generations)``) and flattened actor-major into accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ringfence.graph.synth.arrays import split_into_groups
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.vocabulary import DAY, HOUR

__all__ = ["OffenderChains", "simulate_offenders", "draw_offenders", "hidden_count"]


@dataclass
class OffenderChains:
    """Offender accounts, actor-major (arrays of length ``n_off``) and their actors.

    Attributes
    ----------
    actor, gen : numpy.ndarray
        Actor number and generation of each account.
    primary : numpy.ndarray
        True for the generation's main account, False for its concurrent extras.
    created : numpy.ndarray
        Creation time (seconds into the window).
    has_succ : numpy.ndarray
        True for a primary whose actor opens a next generation (its ban is mandatory).
    pred : numpy.ndarray
        The previous generation's primary (the ban this account evades), or -1.
    source : numpy.ndarray
        The account whose identifiers this one reuses (previous primary for a
        primary, its generation's primary for an extra), or -1.
    chain_ban : numpy.ndarray
        Ban time of the account's generation in the actor's chain.
    rotator : numpy.ndarray
        Full rotators' evasion accounts (generation >= 1).
    actor_type : numpy.ndarray
        Per actor: 0 fraud, 1 spam, 2 abuse.
    ring_of_actor : numpy.ndarray
        Per actor: ring number, or -1.
    n_actors : int
        Number of offender actors.
    """

    actor: np.ndarray
    gen: np.ndarray
    primary: np.ndarray
    created: np.ndarray
    has_succ: np.ndarray
    pred: np.ndarray
    source: np.ndarray
    chain_ban: np.ndarray
    rotator: np.ndarray
    actor_type: np.ndarray
    ring_of_actor: np.ndarray
    n_actors: int

    @property
    def mandatory_ban(self) -> np.ndarray:
        """Accounts whose ban is what the next generation evades."""
        return self.primary & self.has_succ


def simulate_offenders(rng: np.random.Generator, cfg: SynthConfig, n_off: int,
                       W: int) -> OffenderChains:
    """Offender actors and their chains of accounts, flattened actor-major.

    Draws actors until their generations hold at least ``n_off`` accounts and
    keeps the first ``n_off`` (``W`` is the window length in seconds). Then
    picks the full rotators among the evading actors, the actor types and the
    rings.
    """
    maxg = cfg.max_generations
    lo_x, hi_x = cfg.extra_accounts
    mean_g = 1.0 + min(cfg.mean_evasions, maxg - 1)
    per_actor = mean_g * (1.0 + cfg.multi_account_share * (lo_x + hi_x) / 2.0)
    n_draw = int(n_off / per_actor * 1.3) + 16
    while True:
        A = n_draw
        G = 1 + np.minimum(rng.poisson(cfg.mean_evasions, A), maxg - 1)
        multi = rng.random(A) < cfg.multi_account_share
        c0 = rng.uniform(0.0, 0.75 * W, A)
        life = np.maximum(rng.lognormal(np.log(35 * DAY), 0.9, (A, maxg)), 6 * HOUR)
        delay = np.maximum(rng.lognormal(np.log(3 * DAY), 1.0, (A, maxg)), HOUR)
        step = np.cumsum(life + delay, axis=1)
        created = c0[:, None] + np.concatenate([np.zeros((A, 1)), step[:, :-1]], axis=1)
        ban = created + life
        valid = (np.arange(maxg)[None, :] < G[:, None]) & (created < W - 2 * DAY)
        extra = np.where(multi[:, None], rng.integers(lo_x, hi_x + 1, (A, maxg)), 0)
        per_gen = np.where(valid, 1 + extra, 0)
        if per_gen.sum() >= n_off:
            break
        n_draw *= 2
    ag = np.flatnonzero(per_gen.ravel())  # (actor, generation) cells, actor-major
    cnt = per_gen.ravel()[ag]
    cell = np.repeat(ag, cnt)[:n_off]
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)[:n_off]
    slot = np.arange(n_off) - first
    actor = cell // maxg
    gen = cell % maxg
    primary = slot == 0
    c_gen = created.ravel()[cell]
    b_gen = ban.ravel()[cell]
    # concurrent (sibling) accounts open during the primary's life
    span = np.minimum(b_gen, W - DAY) - c_gen
    created_acc = np.where(primary, c_gen, c_gen + rng.uniform(0.05, 0.8, n_off) * span)
    created_acc = np.floor(created_acc).astype(np.int64)
    idx = np.arange(n_off)
    prim_pos = idx - slot  # the primary of the same (actor, generation)
    P = np.flatnonzero(primary)
    has_succ = np.zeros(n_off, bool)
    if len(P) > 1:
        has_succ[P[:-1]] = actor[P[1:]] == actor[P[:-1]]
    prev_prim = np.full(n_off, -1, np.int64)  # previous generation's primary, per primary
    if len(P) > 1:
        same = actor[P[1:]] == actor[P[:-1]]
        prev_prim[P[1:][same]] = P[:-1][same]
    pred = prev_prim[prim_pos]  # predecessor (banned account evaded) for every account
    source = np.where(primary, prev_prim, prim_pos)  # account whose identifiers are reused
    chain_ban = np.floor(b_gen).astype(np.int64)

    n_actors = int(actor[-1]) + 1 if n_off else 0
    n_gens = np.zeros(n_actors, np.int64)
    np.maximum.at(n_gens, actor, gen + 1)
    evading = np.flatnonzero(n_gens >= 2)
    rot_actor = np.zeros(n_actors, bool)
    k = int(round(cfg.full_rotator_share * len(evading)))
    if k:
        rot_actor[rng.choice(evading, k, replace=False)] = True
    rotator = rot_actor[actor] & (gen >= 1)
    actor_type = rng.choice(3, n_actors, p=[0.55, 0.30, 0.15])
    # rings
    ring_of_actor = np.full(n_actors, -1, np.int64)
    n_ring_actors = int(round(cfg.ring_actor_share * n_actors))
    if n_ring_actors >= cfg.ring_size[0]:
        chosen = rng.permutation(n_actors)[:n_ring_actors]
        grp = split_into_groups(rng, chosen, *cfg.ring_size)
        ring_of_actor[chosen] = grp
        in_ring = ring_of_actor >= 0
        actor_type[in_ring] = np.where(rng.random(int(in_ring.sum())) < 0.85, 0,
                                       actor_type[in_ring])
    return OffenderChains(actor=actor, gen=gen, primary=primary, created=created_acc,
                          has_succ=has_succ, pred=pred, source=source, chain_ban=chain_ban,
                          rotator=rotator, actor_type=actor_type, ring_of_actor=ring_of_actor,
                          n_actors=n_actors)


def hidden_count(cfg: SynthConfig, n_off: int) -> int:
    """Offender accounts without any enforcement record (``hidden_share``, rounded)."""
    return int(round(cfg.hidden_share * n_off))


def draw_offenders(rng: np.random.Generator, cfg: SynthConfig, n_off: int,
                   W: int) -> OffenderChains | None:
    """:func:`simulate_offenders`, drawn again until ``hidden_share`` can be met.

    Hidden accounts must come from accounts whose ban did not trigger an
    evasion; a small platform can draw too few of them. Returns ``None`` when
    there are no offenders.

    Raises
    ------
    ValueError
        If 50 draws all leave too few candidates for the hidden accounts.

    Examples
    --------
    >>> from ringfence.graph.synth.config import SynthConfig
    >>> o = draw_offenders(np.random.default_rng(0), SynthConfig(), 300, 365 * 86_400)
    >>> len(o.actor), bool((o.gen[o.primary & (o.pred >= 0)] >= 1).all())
    (300, True)
    """
    if not n_off:
        return None
    k_hidden = hidden_count(cfg, n_off)
    for _attempt in range(50):
        o = simulate_offenders(rng, cfg, n_off, W)
        n_eligible = n_off - int(o.mandatory_ban.sum())
        if k_hidden <= n_eligible:
            return o
    raise ValueError(
        f"hidden_share={cfg.hidden_share} cannot be reached: at most "
        f"{n_eligible / n_off:.3f} of the offender accounts can stay hidden (the "
        "others were banned, which is what their evasion accounts evade); lower "
        "hidden_share or mean_evasions")

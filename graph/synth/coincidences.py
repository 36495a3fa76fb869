"""Strangers who share an identifier by coincidence, and emails written in other ways.

Unrelated people share identifier values more often than a linker would like:
a phone number recycled by the carrier to a new subscriber, a device bought
second-hand, the IP of an office or a campus, the street address of an
apartment block. None of this makes two accounts one actor, one household or
one ring: the truth table keeps them apart, so these are the hard negatives
of identity linking. Formatting variants (capitals, ``+tags``) and lookalike
addresses (a dot more at a provider where dots count) make email
normalisation matter, and matter to be right.

Recipients are ordinary accounts, so an offender's own history (which strong
identifiers its accounts share) is unchanged.
"""

from __future__ import annotations

import numpy as np

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.arrays import split_into_groups
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.identifiers import IdentifierBlocks, IdentifierCounter, OwnIdentifiers
from ringfence.graph.synth.vocabulary import (ADDR, CAPITALS, DAY, DEV, DOMAINS, DOTTED,
                                              EMAIL_VARIANTS, IP)

__all__ = ["share_by_coincidence"]


def _older_strangers(rng: np.random.Generator, acc: Accounts, recipients: np.ndarray,
                     gap: int) -> tuple[np.ndarray, np.ndarray]:
    """For each recipient an account created at least ``gap`` seconds before it, not of
    its household: ``(recipients, donors)``, recipients without a candidate dropped."""
    by_time = np.argsort(acc.created, kind="stable")
    older = np.searchsorted(acc.created[by_time], acc.created[recipients] - gap, side="right")
    donors = by_time[np.floor(rng.random(len(recipients)) * older).astype(np.int64)]
    hh = acc.household
    ok = (older > 0) & ((hh[recipients] < 0) | (hh[recipients] != hh[donors]))
    return recipients[ok], donors[ok]


def _some_ordinary(rng: np.random.Generator, acc: Accounts, share: float,
                   pool: np.ndarray | None = None) -> np.ndarray:
    """``share`` of the ordinary accounts (of ``pool`` if given), drawn without replacement."""
    pool = np.arange(acc.n_off, acc.n) if pool is None else pool
    k = int(round(share * len(pool)))
    return np.sort(pool[rng.choice(len(pool), k, replace=False)]) if k else pool[:0]


def share_by_coincidence(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
                         own: OwnIdentifiers, ctr: IdentifierCounter,
                         blocks: IdentifierBlocks) -> np.ndarray:
    """Plant the coincidences (own identifiers changed in place, extra holdings in ``blocks``).

    In this order: recycled phones, second-hand devices, office IPs, apartment
    blocks, email formatting variants, lookalike emails. Returns the mask of
    ordinary accounts that now share a value with an offender.
    """
    near = np.zeros(acc.n, bool)
    # a recycled number: the older holder signed up with it, the new one signs up with it
    rec = _some_ordinary(rng, acc, cfg.recycled_phone_share)
    rec, donor = _older_strangers(rng, acc, rec, cfg.phone_recycle_gap_days * DAY)
    own.phone[rec] = own.phone[donor]
    own.phone_fmt[rec] = 0  # the new holder writes it as the carrier gives it: +E.164
    near[rec[acc.is_off[donor]]] = True
    # a second-hand device joins the buyer's own devices
    rec = _some_ordinary(rng, acc, cfg.second_hand_device_share)
    rec, donor = _older_strangers(rng, acc, rec, 30 * DAY)
    blocks.add(rec, DEV, own.dev[donor])
    near[rec[acc.is_off[donor]]] = True
    # office and campus IPs: dozens of unrelated people, offenders at their base rate
    k = int(round(cfg.office_ip_share * acc.n))
    members = rng.permutation(acc.n)[:k]
    office = split_into_groups(rng, members, *cfg.office_ip_accounts)
    inside = office >= 0
    if inside.any():
        keys = ctr.alloc(IP, int(office.max()) + 1) << 8
        blocks.add(members[inside], IP, keys[office[inside]])
        with_offender = np.bincount(office[inside], weights=acc.is_off[members[inside]]) > 0
        near[members[inside][with_offender[office[inside]]]] = True
    # apartment blocks: one street address for many unrelated households of one
    alone = np.flatnonzero(acc.household[acc.n_off:] < 0) + acc.n_off
    k = int(round(cfg.apartment_share * len(alone)))
    members = alone[rng.permutation(len(alone))[:k]]
    block = split_into_groups(rng, members, *cfg.apartment_accounts)
    inside = block >= 0
    if inside.any():
        own.addr[members[inside]] = ctr.alloc(ADDR, int(block.max()) + 1)[block[inside]]
    # addresses written with capitals or a +tag: the same mailbox once normalised
    rec = _some_ordinary(rng, acc, cfg.email_variant_share)
    tagged = rng.random(len(rec)) < 0.5
    own.var[rec] = np.where(tagged, rng.integers(1, len(EMAIL_VARIANTS), len(rec)), own.var[rec])
    own.style[rec] = np.where(tagged, own.style[rec], CAPITALS)
    # lookalikes: a stranger's local part with one dot more, at its provider where dots count
    gmail = DOMAINS.index("gmail.com")
    rec = _some_ordinary(rng, acc, cfg.email_lookalike_share)
    donor = acc.n_off + rng.integers(0, acc.n_ord, len(rec))
    ok = (own.dom[donor] != gmail) & (donor != rec) & (own.style[donor] != DOTTED)
    rec, donor = rec[ok], donor[ok]
    own.local[rec] = own.local[donor]
    own.dom[rec] = own.dom[donor]
    own.var[rec] = own.var[donor]
    own.style[rec] = DOTTED
    near[:acc.n_off] = False
    return near

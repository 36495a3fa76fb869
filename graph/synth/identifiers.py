"""Which account holds which identifier: own values, reuse by evaders, extras, ring sharing.

Identifier values are integer *keys* here, one sequence per kind
(:class:`IdentifierCounter`); :mod:`~ringfence.graph.synth.identifier_values`
turns them into strings at the end. An IP key is ``base id << 8 | host`` so
that an address in the same /24 is one key away; keys at or above
:data:`~ringfence.graph.synth.vocabulary.HUB` are hub values. An email key
packs the local part, the writing style, the domain and the ``+tag`` variant;
a phone key the number and the format it is written in.

Each (account, kind, key) holding is added to :class:`IdentifierBlocks`;
:func:`observe_identifiers` turns the holdings into timed observations
(at signup or during the account's life, some of them repeated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.vocabulary import (ADDR, CARD, COUNTRY_P, COUNTRY_P_OFF, DEV,
                                              DOMAIN_P, DOMAINS, DOTTED, EMAIL,
                                              EMAIL_VARIANTS, IP, NATIONAL, PHONE,
                                              PHONE_FORMAT_SHIFT, PHONE_FORMATS, PLAIN)

__all__ = ["IdentifierCounter", "IdentifierBlocks", "OwnIdentifiers", "allocate_own_identifiers",
           "reuse_for_evasion", "add_own_identifiers", "add_extra_identifiers",
           "add_ring_identifiers", "observe_identifiers"]


class IdentifierCounter:
    """Sequential ids per identifier kind (values are anonymised at formatting).

    Examples
    --------
    >>> ctr = IdentifierCounter()
    >>> ctr.alloc(DEV, 2).tolist(), ctr.alloc(DEV, 1).tolist(), ctr.next[DEV]
    ([0, 1], [2], 3)
    """

    def __init__(self) -> None:
        self.next = [0] * 6

    def alloc(self, kind: int, n: int) -> np.ndarray:
        """``n`` new ids of ``kind``."""
        start = self.next[kind]
        self.next[kind] += int(n)
        return np.arange(start, start + int(n), dtype=np.int64)


@dataclass
class IdentifierBlocks:
    """Identifier holdings in blocks of one kind, in the order they were added.

    ``repeat_rate`` is the default share of holdings observed more than once.
    """

    repeat_rate: float
    blocks: list[tuple[np.ndarray, int, np.ndarray, bool, float]] = field(default_factory=list)

    def add(self, acct: np.ndarray, kind: int, key: np.ndarray, signup: bool = False,
            repeat: float | None = None) -> None:
        """Account ``acct[i]`` holds ``key[i]`` of ``kind``; ``signup``: first seen at signup."""
        if len(acct):
            self.blocks.append((acct.astype(np.int32), kind, key.astype(np.int64), signup,
                                self.repeat_rate if repeat is None else repeat))


@dataclass
class OwnIdentifiers:
    """Each account's own identifier keys (length ``n``) and its country.

    ``hh_dev`` is the shared device of each household (``None`` without households);
    ``style`` how each email is written, ``phone_fmt`` how each phone number is.
    """

    dev: np.ndarray
    phone: np.ndarray
    card: np.ndarray
    addr: np.ndarray
    ip_home: np.ndarray
    local: np.ndarray
    dom: np.ndarray
    var: np.ndarray
    country: np.ndarray
    hh_dev: np.ndarray | None
    style: np.ndarray
    phone_fmt: np.ndarray

    @property
    def email(self) -> np.ndarray:
        """Email keys: local part, style, domain and ``+tag`` variant packed in one integer."""
        return (self.local << 10) | (self.style << 8) | (self.dom << 3) | self.var

    @property
    def phone_key(self) -> np.ndarray:
        """Phone keys: the number and the format it is written in."""
        return self.phone | (self.phone_fmt << PHONE_FORMAT_SHIFT)


def allocate_own_identifiers(rng: np.random.Generator, acc: Accounts,
                             ctr: IdentifierCounter) -> OwnIdentifiers:
    """A fresh device, phone, card, address, home IP and email per account; countries.

    Offenders mostly share their actor's country; household members share the
    household's country, home IP and address (and a device, ``hh_dev``).
    """
    n, n_off, is_off = acc.n, acc.n_off, acc.is_off
    dev0 = ctr.alloc(DEV, n)
    phone = ctr.alloc(PHONE, n)
    card0 = ctr.alloc(CARD, n)
    addr = ctr.alloc(ADDR, n)
    ip_home = ctr.alloc(IP, n) << 8  # key = base id << 8 | host offset (0 = the base IP)
    local = ctr.alloc(EMAIL, n)  # email local parts
    dom = rng.choice(len(DOMAINS), n, p=DOMAIN_P).astype(np.int64)
    var = np.zeros(n, np.int64)

    # countries: per actor for offenders, per household for members
    country = np.where(is_off, rng.choice(10, n, p=COUNTRY_P_OFF), rng.choice(10, n, p=COUNTRY_P))
    if n_off:
        actor_country = rng.choice(10, acc.n_off_actors, p=COUNTRY_P_OFF)
        keep_c = rng.random(n_off) < 0.85
        country[:n_off] = np.where(keep_c, actor_country[acc.actor[:n_off]], country[:n_off])
    hh_dev = None
    if acc.n_households:
        hh_members, household = acc.hh_members, acc.household
        hh_country = rng.choice(10, acc.n_households, p=COUNTRY_P)
        country[hh_members] = hh_country[household[hh_members]]
        hh_ip = ctr.alloc(IP, acc.n_households) << 8
        hh_addr = ctr.alloc(ADDR, acc.n_households)
        hh_dev = ctr.alloc(DEV, acc.n_households)
        ip_home[hh_members] = hh_ip[household[hh_members]]
        addr[hh_members] = hh_addr[household[hh_members]]
    return OwnIdentifiers(dev=dev0, phone=phone, card=card0, addr=addr, ip_home=ip_home,
                          local=local, dom=dom, var=var, country=country, hh_dev=hh_dev,
                          style=np.zeros(n, np.int64), phone_fmt=np.zeros(n, np.int64))


def reuse_for_evasion(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
                      own: OwnIdentifiers) -> None:
    """Evasion and extra accounts take over identifiers of their source account (in place).

    Level by level (generation, then primaries before extras), so a source's
    identifiers are final before anyone copies them. Non-rotators reuse at
    least one strong identifier; full rotators keep only weak traces (an IP in
    the same /24, the email local part at another domain, with a ``+tag`` or,
    at gmail.com, with a dot; the old phone number typed in another format).
    """
    if not acc.n_off:
        return
    o, rotator = acc.offenders, acc.rotator
    dev0, card0, phone, ip_home = own.dev, own.card, own.phone, own.ip_home
    local, dom, var, addr = own.local, own.dom, own.var, own.addr
    style, phone_fmt = own.style, own.phone_fmt
    gmail = DOMAINS.index("gmail.com")
    src_all = o.source
    for g in range(cfg.max_generations):
        for prim in (True, False):
            sel = np.flatnonzero((o.gen == g) & (o.primary == prim) & (src_all >= 0))
            if len(sel) == 0:
                continue
            src = src_all[sel]
            rot = rotator[sel]
            m = len(sel)
            u = rng.random((6, m))
            # strong identifiers (non-rotators): reuse at least one
            p_dev, p_card, p_phone = (0.65, 0.35, 0.30) if prim else (0.80, 0.45, 0.10)
            r_dev, r_card, r_phone = u[0] < p_dev, u[1] < p_card, u[2] < p_phone
            none = ~(r_dev | r_card | r_phone)
            forced = rng.choice(3, m, p=[0.6, 0.25, 0.15])
            r_dev |= none & (forced == 0)
            r_card |= none & (forced == 1)
            r_phone |= none & (forced == 2)
            r_dev &= ~rot
            r_card &= ~rot
            r_phone &= ~rot
            dev0[sel] = np.where(r_dev, dev0[src], dev0[sel])
            card0[sel] = np.where(r_card, card0[src], card0[sel])
            phone[sel] = np.where(r_phone, phone[src], phone[sel])
            # IP: exact reuse, or (rotators) an IP in the same /24
            p_ip = 0.45 if prim else 0.90
            exact_ip = u[3] < np.where(rot, 0.45, p_ip)
            range_ip = rot & ~exact_ip & (u[3] < 0.85)
            host = (ip_home[src] & 255) + rng.integers(1, 256, m)
            ranged = ((ip_home[src] >> 8) << 8) | (host & 255)
            ip_home[sel] = np.where(exact_ip, ip_home[src],
                                    np.where(range_ip, ranged, ip_home[sel]))
            # email: the exact address, or the same local part at another domain / +tag
            ue = u[4]
            exact_mail = ~rot & (ue < 0.25)
            pattern = np.where(rot, ue < 0.6, (ue >= 0.25) & (ue < 0.55))
            other_dom = (dom[src] + rng.integers(1, len(DOMAINS), m)) % len(DOMAINS)
            bump = rng.random(m) < 0.4
            reuse_local = exact_mail | pattern
            local[sel] = np.where(reuse_local, local[src], local[sel])
            new_dom = np.where(bump, dom[src], other_dom)
            dom[sel] = np.where(exact_mail, dom[src], np.where(pattern, new_dom, dom[sel]))
            var[sel] = np.where(exact_mail, var[src],
                                np.where(pattern & bump, (var[src] + 1) % len(EMAIL_VARIANTS),
                                         np.where(pattern, var[src], var[sel])))
            # gmail ignores dots: half the rotators who keep their gmail local part add one
            dotted = rot & pattern & bump & (dom[src] == gmail) & (rng.random(m) < 0.5)
            style[sel] = np.where(dotted, np.where(style[src] == DOTTED, PLAIN, DOTTED),
                                  np.where(exact_mail, style[src], style[sel]))
            var[sel] = np.where(dotted, var[src], var[sel])
            # a rotator's main account may type the old number in another format; only from
            # a number written as +E.164, so no two accounts of an actor write it alike
            retyped = (rot & prim & (phone_fmt[src] == 0)
                       & (rng.random(m) < cfg.rotator_phone_trace))
            new_fmt = rng.integers(1, len(PHONE_FORMATS), m)
            # the national form is read with the account's country: only at home
            abroad = own.country[sel] != own.country[phone[src]]
            new_fmt = np.where(abroad & (new_fmt == NATIONAL), 1, new_fmt)
            phone[sel] = np.where(retyped, phone[src], phone[sel])
            phone_fmt[sel] = np.where(retyped, new_fmt, np.where(r_phone, phone_fmt[src],
                                                                 phone_fmt[sel]))
            # address
            p_addr = np.where(rot, 0.15, 0.5 if prim else 0.8)
            addr[sel] = np.where(u[5] < p_addr, addr[src], addr[sel])


def add_own_identifiers(acc: Accounts, own: OwnIdentifiers, blocks: IdentifierBlocks) -> None:
    """Every account's own identifiers, then the household devices.

    Device, phone, email and home IP are first seen at signup; household
    devices are observed twice as often as other identifiers.
    """
    all_acc = np.arange(acc.n, dtype=np.int64)
    blocks.add(all_acc, DEV, own.dev, signup=True)
    blocks.add(all_acc, PHONE, own.phone_key, signup=True)
    blocks.add(all_acc, EMAIL, own.email, signup=True)
    blocks.add(all_acc, IP, own.ip_home, signup=True)
    blocks.add(all_acc, CARD, own.card)
    blocks.add(all_acc, ADDR, own.addr)
    if acc.n_households:
        hh_members = acc.hh_members
        blocks.add(hh_members, DEV, own.hh_dev[acc.household[hh_members]],
                   repeat=min(1.0, 2 * blocks.repeat_rate))


def add_extra_identifiers(rng: np.random.Generator, acc: Accounts, ctr: IdentifierCounter,
                          blocks: IdentifierBlocks) -> None:
    """Extra devices, cards and IPs (offenders use more)."""
    n, is_off = acc.n, acc.is_off
    all_acc = np.arange(n, dtype=np.int64)
    n_xdev = np.where(is_off, rng.choice(3, n, p=[0.5, 0.35, 0.15]),
                      rng.choice(3, n, p=[0.6, 0.3, 0.1]))
    holders = np.repeat(all_acc, n_xdev)
    blocks.add(holders, DEV, ctr.alloc(DEV, len(holders)))
    p_card = np.where(is_off, np.where(acc.atype == 0, 0.45, 0.25), 0.10)
    holders = np.flatnonzero(rng.random(n) < p_card)
    blocks.add(holders, CARD, ctr.alloc(CARD, len(holders)))
    n_xip = np.where(is_off, rng.choice(4, n, p=[0.3, 0.35, 0.2, 0.15]),
                     rng.choice(4, n, p=[0.65, 0.25, 0.10, 0.0]))
    holders = np.repeat(all_acc, n_xip)
    blocks.add(holders, IP, ctr.alloc(IP, len(holders)) << 8)


def add_ring_identifiers(rng: np.random.Generator, acc: Accounts, ctr: IdentifierCounter,
                         blocks: IdentifierBlocks) -> None:
    """Rings share some devices, cards and proxy IPs (each ring its own small pool)."""
    n_rings, ring, rotator = acc.n_rings, acc.ring, acc.rotator
    if not n_rings:
        return
    racc = np.flatnonzero(ring >= 0)
    r = ring[racc]
    for kind, (lo_k, hi_k), p_use, strong in ((IP, (1, 3), 0.7, False),
                                              (DEV, (1, 2), 0.35, True),
                                              (CARD, (1, 2), 0.30, True)):
        size = rng.integers(lo_k, hi_k + 1, n_rings)
        offs = np.cumsum(size) - size
        pool = ctr.alloc(kind, int(size.sum()))
        use = rng.random(len(racc)) < p_use
        if strong:
            use &= ~rotator[racc]  # rotators keep no strong link to their past
        pick = offs[r] + np.floor(rng.random(len(racc)) * size[r]).astype(np.int64)
        key = pool[pick] << 8 if kind == IP else pool[pick]
        blocks.add(racc[use], kind, key[use])


def observe_identifiers(rng: np.random.Generator, blocks: IdentifierBlocks, created: np.ndarray,
                        end: np.ndarray) -> dict[str, np.ndarray]:
    """Timed observations of every holding: ``acct_r, kind_r, key_r, seen`` (rows).

    First observations come first (at signup for the identifiers an account
    signs up with, else any time in its life), then the repeats, appended;
    the sort by time in :mod:`~ringfence.graph.synth.assemble` mixes them.
    ``blocks`` is emptied (its arrays are freed as soon as they are copied).
    """
    parts, blocks.blocks = blocks.blocks, []
    acct_i = np.concatenate([b[0] for b in parts])
    kind_i = np.concatenate([np.full(len(b[0]), b[1], np.int8) for b in parts])
    key_i = np.concatenate([b[2] for b in parts])
    signup_i = np.concatenate([np.full(len(b[0]), b[3], bool) for b in parts])
    rep_i = np.concatenate([np.full(len(b[0]), b[4]) for b in parts])
    del parts
    n_pairs = len(acct_i)
    extra = np.where(rng.random(n_pairs) < rep_i, rng.geometric(0.7, n_pairs), 0)
    again = np.flatnonzero(extra)
    again = np.repeat(again, extra[again])
    acct_r = np.concatenate([acct_i, acct_i[again]])
    kind_r = np.concatenate([kind_i, kind_i[again]])
    key_r = np.concatenate([key_i, key_i[again]])
    del acct_i, kind_i, key_i, rep_i, extra
    c = created[acct_r]
    life_r = end[acct_r] - c
    frac = rng.random(len(acct_r))
    window = life_r - 1
    window[:n_pairs] = np.where(signup_i, np.minimum(900, life_r[:n_pairs]), window[:n_pairs])
    seen = c + np.floor(frac * window).astype(np.int64)
    return dict(acct_r=acct_r, kind_r=kind_r, key_r=key_r, seen=seen)

"""Synthetic platforms with ground truth: accounts, identifiers, edges, enforcement.

:func:`generate_platform` builds a platform of ``n_accounts`` accounts in
ringfence's input contract (four tables) plus a ``truth`` table that says who
is who. Everything is numpy-vectorised (loops run only over a handful of
kinds, generations or hubs), so a million accounts take seconds, and the
result is a pure function of ``(n_accounts, seed, config)``: the same
arguments give the same bytes on disk (:func:`write_platform`).

What is in it
-------------
* **Ordinary users**, one account each: 1-3 devices, their own phone, email,
  card and address, a home IP and sometimes others. **Households** of 2-4
  accounts share a device, the home IP and the address.
* **Strangers who share a value by coincidence**: recycled phone numbers
  (a number that passes to a new, unrelated account after a gap),
  second-hand devices, office and campus IPs shared by a few dozen unrelated
  people, apartment blocks (one street address). They are in no actor,
  household or ring together: the hard negatives of identity linking.
* **Emails and phones written in other ways**: some ordinary users write
  their address with capitals or a ``+tag``; a few have an address that
  differs from a stranger's only by a dot at a provider where dots count
  (merging them is over-eager normalisation). Phone numbers are mobile
  numbers of their country's length, written as +E.164 unless retyped.
* **Hubs**: a few carrier-NAT / public-wifi IPs used by hundreds or thousands
  of unrelated accounts, and a few non-unique device values (emulator
  defaults, the famous Android-ID bug value, factory images) used by dozens to
  hundreds. Both include some offenders.
* **Repeat offenders** (actors): after a ban an actor opens a new account
  (*generation* 1, 2, ...) that reuses at least one strong identifier (device,
  card or phone) of an earlier account, except *full rotators*
  (``SynthConfig.full_rotator_share`` of the evading actors), who rotate every
  strong identifier and keep only weak traces: the same IP or one in the same
  /24, the same email local part at another domain (or a ``+tag`` variant, or
  at gmail.com a dot more), their old phone number typed in another format
  (spaced, dashed, national), or nothing at all. Some actors run several
  accounts at once (multi-accounting).
* **Rings**: groups of actors that transfer money densely among themselves and
  share some devices, cards and proxy IPs.
* **Edges**: sparse background transfers and messages with some locality,
  household messages, self-dealing between an actor's concurrent accounts,
  ring transfers and offender-victim edges (fraud transfers, spam and
  harassment messages).
* **Enforcement**: violations then bans on offender accounts; the ban of a
  generation is what the next generation evades. ``hidden_share`` of the
  offender accounts (mostly the newest) have no record at all; a few bans hit
  ordinary users (``wrong_ban_rate``); ordinary accounts rarely get a
  violation; ``cleared`` reviews hit ordinary accounts only, some of them next
  to offenders.

Truth (``Platform.truth``)
--------------------------
``account_id, actor_id, role, is_offender, generation, full_rotator, hidden,
ring_id, household_id, predecessor_id, actor_type, wrong_ban, near_offender``.
``role`` is one of :data:`ROLES`:

``ordinary``
    a regular user (households included);
``offender``
    the first account (generation 0) of an offender actor;
``evader``
    an account an actor opened after the ban of its previous account
    (generation >= 1);
``multi_account``
    an extra account run at the same time as the actor's main account of that
    generation (its ``generation`` says which).

``generation`` is 0 for an actor's first accounts and k for accounts opened
after k bans; ``predecessor_id`` is, for generation >= 1, the banned account of
the previous generation (the ban this account evades); ``full_rotator`` marks
evasion accounts (generation >= 1) that share no device, card or phone value
(as written) with any earlier account of their actor; ``hidden`` marks
offender accounts without any ban or violation record; ``ring_id`` and ``household_id`` are empty
outside rings and households; ``actor_type`` is ``fraud``, ``spam`` or
``abuse`` for offenders; ``wrong_ban`` marks the ordinary accounts that were
banned (label noise); ``near_offender`` marks ordinary accounts that share a
hub or a coincidental value with an offender, or have an edge with one.

``Platform.link_decisions`` (with ``generate_platform(..., link_labels=f)``)
holds a synthetic reviewer's decisions on a share ``f`` of the true
same-actor pairs and as many pairs of different actors that share a value.

Timestamps lie in a fixed window (default 2024-06-30 to 2026-06-30 UTC), never
depend on the current date, and are whole seconds.

Modules
-------
In the order :func:`generate_platform` runs them (one random generator
threads through all of them, so that order is part of the output):

``config``             :class:`SynthConfig` and its checks
``vocabulary``         kinds, roles, reasons, their integer codes; countries, domains
``offenders``          offender actors: chains of evasion accounts, multi-accounting, rings
``accounts``           all accounts: offenders first, ordinary users, households
``enforcement``        violations, bans, label noise, cleared reviews
``identifiers``        which account holds which identifier (reuse by evaders, sharing)
``coincidences``       strangers who share a value: recycled phones, second-hand devices, ...
``hubs``               NAT IPs and non-unique device values shared by many accounts
``edges``              transfers and messages, and their times
``neighbours``         ordinary accounts next to an offender
``attributes``         account attributes (logins, payments, profile)
``identifier_values``  identifier keys as strings (devices, IPs, emails, ...)
``assemble``           public ids, sorting, the DataFrames of a :class:`Platform`
``generate``           :func:`generate_platform`, the steps above in order
``link_labels``        synthetic reviewer decisions on pairs (their own random generator)
``generated_platform`` :class:`Platform`
``write``              :func:`write_platform`
``arrays``, ``strings`` vectorised numpy and Arrow helpers

Examples
--------
>>> from ringfence.graph.synth import generate_platform
>>> p = generate_platform(1_000, seed=0)
>>> sorted(p.truth["role"].unique())
['evader', 'multi_account', 'offender', 'ordinary']
"""

from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.generate import generate_platform
from ringfence.graph.synth.generated_platform import Platform
from ringfence.graph.synth.vocabulary import (ACTIONS, ACTOR_TYPES, EDGE_KINDS, IDENTIFIER_KINDS,
                                              REASONS, ROLES, STRONG_KINDS, TABLE_NAMES)
from ringfence.graph.synth.write import write_platform

__all__ = [
    "SynthConfig",
    "Platform",
    "generate_platform",
    "write_platform",
    "IDENTIFIER_KINDS",
    "STRONG_KINDS",
    "EDGE_KINDS",
    "ROLES",
    "REASONS",
    "ACTIONS",
    "ACTOR_TYPES",
    "TABLE_NAMES",
]

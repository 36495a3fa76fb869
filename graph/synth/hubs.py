"""Hubs: identifier values shared by many unrelated accounts, offenders among them.

Carrier-NAT / public-wifi IPs are used by hundreds or thousands of accounts
(offenders at their base rate); non-unique device values (emulator defaults,
the Android-ID bug value, factory images) by dozens to hundreds (offenders at
``hub_offender_share``). Every hub has at least one offender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.arrays import loguniform_int
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.identifier_values import ip_strings
from ringfence.graph.synth.identifiers import IdentifierBlocks
from ringfence.graph.synth.vocabulary import DEV, HUB, IDENTIFIER_KINDS, IP

__all__ = ["Hubs", "plant_hubs", "hub_value_strings", "hubs_frame"]

HUB_DEVICE_NAMES = (
    "9774d56d682e549c",  # the Android-ID value shared by a whole generation of phones
    "emulator-5554",
    "00000000-0000-0000-0000-000000000000",
    "generic_x86_64-sdk_gphone64",
    "SM-A515F-factory-image",
    "iPhone14,7-restored-default",
    "bluestacks-default-android-id",
    "Redmi-Note-9-stock-rom",
)


@dataclass
class Hubs:
    """The planted hubs, NAT IPs first, in the order drawn.

    Attributes
    ----------
    kind : list of int
        ``IP`` or ``DEV`` per hub.
    size, n_offenders : list of int
        Accounts and offender accounts per hub.
    members : list of numpy.ndarray
        The accounts of each hub.
    """

    kind: list[int]
    size: list[int]
    n_offenders: list[int]
    members: list[np.ndarray]

    def shared_with_offenders(self, n: int) -> np.ndarray:
        """Accounts (of ``n``) that share a hub with an offender (offenders included)."""
        near = np.zeros(n, bool)
        if self.members:
            member_all = np.concatenate(self.members)
            of_member = np.repeat(np.arange(len(self.kind), dtype=np.int64),
                                  [len(m) for m in self.members])
            has_off = np.array(self.n_offenders, np.int64) > 0
            near[member_all[has_off[of_member]]] = True
        return near


def plant_hubs(rng: np.random.Generator, cfg: SynthConfig, acc: Accounts,
               blocks: IdentifierBlocks) -> Hubs:
    """Draw the hubs' members and add their hub identifiers to ``blocks``.

    Hub keys are ``HUB + i`` for the ``i``-th hub of its kind. ``n_nat_ips``
    and ``n_shared_devices`` default to ``max(3, ceil(4 * n / 100_000))``; no
    hub has more than ``hub_max_fraction`` of the accounts.
    """
    n, n_off, n_ord = acc.n, acc.n_off, acc.n_ord
    rep = blocks.repeat_rate
    cap = max(2, int(cfg.hub_max_fraction * n))
    auto = max(3, math.ceil(4 * n / 100_000))
    n_nat = cfg.n_nat_ips if cfg.n_nat_ips is not None else auto
    n_sdev = cfg.n_shared_devices if cfg.n_shared_devices is not None else auto
    hub_kind: list[int] = []
    hub_size: list[int] = []
    hub_noff: list[int] = []
    hub_members: list[np.ndarray] = []
    devhub_pool = np.flatnonzero(acc.is_off & ~acc.rotator)
    for kind, count, (lo_h, hi_h) in ((IP, n_nat, cfg.nat_ip_accounts),
                                      (DEV, n_sdev, cfg.shared_device_accounts)):
        sizes = np.minimum(loguniform_int(rng, lo_h, hi_h, count), min(cap, n))
        for h in range(count):
            s = int(sizes[h])
            pool = np.arange(n_off) if kind == IP else devhub_pool
            rate = n_off / n if kind == IP else cfg.hub_offender_share
            k_off = min(len(pool), max(1, int(rng.binomial(s, rate)))) if len(pool) else 0
            k_off = min(k_off, s)
            k_ord = min(s - k_off, n_ord)
            mem = np.concatenate([pool[rng.choice(len(pool), k_off, replace=False)] if k_off
                                  else np.zeros(0, np.int64),
                                  n_off + rng.choice(n_ord, k_ord, replace=False)])
            hub_kind.append(kind)
            hub_size.append(len(mem))
            hub_noff.append(k_off)
            hub_members.append(mem)
    hub_no = np.arange(len(hub_kind), dtype=np.int64)
    hub_kind_a = np.array(hub_kind, np.int64)
    for kind in (IP, DEV):
        hs = hub_no[hub_kind_a == kind]
        if len(hs):
            mem = np.concatenate([hub_members[h] for h in hs])
            key = np.repeat(HUB + np.arange(len(hs)), [len(hub_members[h]) for h in hs])
            blocks.add(mem, kind, key, repeat=0.5 if kind == IP else rep)
    return Hubs(kind=hub_kind, size=hub_size, n_offenders=hub_noff, members=hub_members)


def hub_value_strings(rng: np.random.Generator, hubs: Hubs) -> tuple[pa.Array, pa.Array]:
    """The hubs' values: NAT IPs in 100.64.0.0/10 (carrier-grade NAT) and device names.

    Device names repeat with a ``-vK`` suffix when there are more hubs than names.
    """
    kind = np.array(hubs.kind, np.int64)
    n_nat_hubs = int((kind == IP).sum())
    n_dev_hubs = int((kind == DEV).sum())
    nat_values = ip_strings(100 << 24 | 64 << 16 | (1 + rng.choice((1 << 22) - 2, n_nat_hubs,
                                                                   replace=False)))
    n_names = len(HUB_DEVICE_NAMES)
    dev_hub_values = pa.array([HUB_DEVICE_NAMES[h % n_names]
                               + ("" if h < n_names else f"-v{h // n_names}")
                               for h in range(n_dev_hubs)], pa.string())
    return nat_values, dev_hub_values


def hubs_frame(hubs: Hubs, nat_values: pa.Array, dev_hub_values: pa.Array) -> pd.DataFrame:
    """``Platform.hubs``: ``kind, value, n_accounts, n_offender_accounts`` per hub."""
    hub_values = [nat_values[i].as_py() for i in range(len(nat_values))] \
        + dev_hub_values.to_pylist()
    return pd.DataFrame({
        "kind": pd.Series([IDENTIFIER_KINDS[k] for k in hubs.kind], dtype="str"),
        "value": pd.Series(hub_values, dtype="str"),
        "n_accounts": np.array(hubs.size, np.int64),
        "n_offender_accounts": np.array(hubs.n_offenders, np.int64),
    })

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
* **Hubs**: a few carrier-NAT / public-wifi IPs used by hundreds or thousands
  of unrelated accounts, and a few non-unique device values (emulator
  defaults, the famous Android-ID bug value, factory images) used by dozens to
  hundreds. Both include some offenders.
* **Repeat offenders** (actors): after a ban an actor opens a new account
  (*generation* 1, 2, ...) that reuses at least one strong identifier (device,
  card or phone) of an earlier account, except *full rotators*
  (``SynthConfig.full_rotator_share`` of the evading actors), who rotate every
  strong identifier and keep only weak traces: the same IP or one in the same
  /24, the same email local part at another domain (or a ``+tag`` variant), or
  nothing at all. Some actors run several accounts at once (multi-accounting).
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
evasion accounts (generation >= 1) that share no device, card or phone with
any earlier account of their actor; ``hidden`` marks offender accounts without
any ban or violation record; ``ring_id`` and ``household_id`` are empty
outside rings and households; ``actor_type`` is ``fraud``, ``spam`` or
``abuse`` for offenders; ``wrong_ban`` marks the ordinary accounts that were
banned (label noise); ``near_offender`` marks ordinary accounts that share a
hub with an offender or have an edge with one.

Timestamps lie in a fixed window (default 2024-06-30 to 2026-06-30 UTC), never
depend on the current date, and are whole seconds.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

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
]

IDENTIFIER_KINDS = ("device", "ip", "card", "phone", "email", "address")
STRONG_KINDS = ("device", "card", "phone")
EDGE_KINDS = ("transfer", "message")
ACTIONS = ("ban", "violation", "cleared")
REASONS = ("fraud", "spam", "chargeback", "harassment")
ROLES = ("ordinary", "offender", "evader", "multi_account")
ACTOR_TYPES = ("fraud", "spam", "abuse")
TABLE_NAMES = ("accounts", "identifiers", "edges", "enforcement")

_DEV, _IP, _CARD, _PHONE, _EMAIL, _ADDR = range(6)
_TRANSFER, _MESSAGE = 0, 1
_BAN, _VIOLATION, _CLEARED = 0, 1, 2
_FRAUD, _SPAM, _CHARGEBACK, _HARASSMENT = range(4)
_ORDINARY, _OFFENDER, _EVADER, _MULTI = range(4)

_DAY = 86_400
_HOUR = 3_600
_HUB = np.int64(1) << 40  # identifier keys at or above this are hub values
_MAX_ACCOUNTS = 100_000_000  # keeps composite sort keys inside int64
_CHUNK = 4_000_000  # rows per Arrow chunk (keeps string buffers far from 2 GiB)
_GZIP_LEVEL = 3  # ~10 % larger than level 6, about twice as fast
_CSV_SLICE_BYTES = 24_000_000  # CSV rows per gzip member, in Arrow bytes

_COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "NG", "PH", "ID", "MX")
_CALLING_CODES = ("1", "44", "49", "33", "55", "91", "234", "63", "62", "52")
_COUNTRY_P = np.array([0.30, 0.10, 0.09, 0.07, 0.10, 0.12, 0.05, 0.06, 0.06, 0.05])
_COUNTRY_P_OFF = np.array([0.22, 0.07, 0.06, 0.05, 0.13, 0.13, 0.12, 0.09, 0.08, 0.05])
_CHANNELS = ("organic", "referral", "paid_ads", "partner", "api")
_CHANNEL_P = np.array([0.50, 0.20, 0.20, 0.08, 0.02])
_CHANNEL_P_OFF = np.array([0.40, 0.14, 0.28, 0.10, 0.08])
_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com",
            "proton.me", "gmx.de", "mail.ru", "yandex.com", "aol.com")
_DOMAIN_P = np.array([0.40, 0.14, 0.10, 0.10, 0.08, 0.05, 0.04, 0.04, 0.03, 0.02])
_EMAIL_VARIANTS = ("", "+1", "+shop", "+x")
_FIRST_NAMES = (
    "anna", "ben", "carla", "david", "elena", "felix", "grace", "hugo", "ines", "jonas",
    "kira", "liam", "maria", "noah", "olga", "pavel", "quinn", "rosa", "samir", "tara",
    "umar", "vera", "wei", "xena", "yusuf", "zoe", "amit", "bianca", "chen", "dmitri",
    "emma", "fatima", "gabriel", "hana", "ivan", "julia", "kofi", "lucia", "mateo", "nadia")
_LAST_NAMES = (
    "smith", "garcia", "mueller", "rossi", "kowalski", "silva", "nguyen", "kim", "okafor",
    "patel", "santos", "novak", "ivanova", "tanaka", "dubois", "jensen", "moreau", "costa",
    "haddad", "lopez", "wagner", "brown", "schmidt", "reyes", "cruz", "walker", "mendes",
    "fischer", "ali", "khan", "park", "chen", "weber", "lima", "adeyemi", "sato", "bauer",
    "romero", "horvat", "berg")
_EMAIL_SEPS = (".", "_")
# plausible residential first octets; 100.64.0.0/10 (carrier-grade NAT) is kept for hubs
_IP_FIRST_OCTETS = np.array([
    24, 37, 46, 50, 62, 67, 68, 71, 73, 76, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    90, 91, 92, 93, 94, 95, 98, 99, 108, 109, 151, 174, 176, 177, 178, 185, 188, 189, 190,
    201, 203], dtype=np.int64)
_HUB_DEVICE_NAMES = (
    "9774d56d682e549c",  # the Android-ID value shared by a whole generation of phones
    "emulator-5554",
    "00000000-0000-0000-0000-000000000000",
    "generic_x86_64-sdk_gphone64",
    "SM-A515F-factory-image",
    "iPhone14,7-restored-default",
    "bluestacks-default-android-id",
    "Redmi-Note-9-stock-rom",
)
_MUL = np.int64(2_654_435_761)  # odd, not a multiple of 5: a bijection mod 10**k and 2**k


# --------------------------------------------------------------------------- config


def _check_share(name: str, value: Any, *, upper_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"SynthConfig.{name} must be a number in {bound}, got {value!r}")


def _check_nonneg(name: str, value: Any) -> None:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and value >= 0)
    if not ok:
        raise ValueError(f"SynthConfig.{name} must be a finite number >= 0, got {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"SynthConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_range(name: str, value: Any, minimum: int) -> None:
    ok = (isinstance(value, tuple) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
          and minimum <= value[0] <= value[1])
    if not ok:
        raise ValueError(f"SynthConfig.{name} must be a pair (low, high) of integers with "
                         f"{minimum} <= low <= high, got {value!r}")


def _parse_utc(name: str, value: Any) -> int:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"SynthConfig.{name} must be an ISO 8601 timestamp, got {value!r}") from None
    if ts is pd.NaT:
        raise ValueError(f"SynthConfig.{name} must be an ISO 8601 timestamp, got {value!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000_000)


@dataclass(frozen=True)
class SynthConfig:
    """Every knob of :func:`generate_platform`; validated on construction.

    Parameters
    ----------
    start, end : str
        The time window (ISO 8601, UTC). Every timestamp lies inside it.
    offender_share : float
        Share of all accounts that belong to offender actors (default 3 %).
    mean_evasions : float
        Mean number of ban-evasion generations per offender actor (Poisson,
        capped by ``max_generations - 1`` and by the end of the window).
    max_generations : int
        Most accounts in one actor's chain of evasion (generation 0 included).
    multi_account_share : float
        Share of offender actors that run extra accounts at the same time.
    extra_accounts : tuple of int
        Range (inclusive) of extra concurrent accounts per generation for them.
    full_rotator_share : float
        Share of the evading actors (those with a generation >= 1) that rotate
        every strong identifier (device, card, phone) and keep weak traces only.
    ring_actor_share : float
        Share of offender actors that belong to a ring.
    ring_size : tuple of int
        Range of actors per ring.
    ring_density : float
        Probability that two accounts of different actors in a ring transact.
    household_share : float
        Share of ordinary accounts that live in a household.
    household_size : tuple of int
        Range of accounts per household (they share a device, the IP, the address).
    n_nat_ips : int or None
        Number of carrier-NAT / public-wifi IPs; ``None`` scales with the
        platform: ``max(3, ceil(4 * n_accounts / 100_000))``.
    nat_ip_accounts : tuple of int
        Range of distinct accounts per NAT IP (log-uniform), capped at
        ``hub_max_fraction * n_accounts``.
    n_shared_devices : int or None
        Number of non-unique device values (emulator defaults, popular models);
        ``None`` scales like ``n_nat_ips``.
    shared_device_accounts : tuple of int
        Range of distinct accounts per shared device value, capped likewise.
    hub_max_fraction : float
        No hub is used by more than this share of all accounts.
    hub_offender_share : float
        Share of offender accounts among the users of a shared device value
        (NAT IPs draw offenders at their base rate); every hub has at least one.
    background_edges_per_account : float
        Background transfers and messages per account.
    victims_per_offender_account : float
        Mean number of victim edges per offender account.
    repeat_observation_rate : float
        Share of (account, identifier) pairs observed more than once.
    hidden_share : float
        Share of offender accounts with no enforcement record (exact, rounded).
    offender_ban_rate : float
        Ban probability of a non-hidden offender account whose ban did not
        trigger an evasion (the others get violations only).
    wrong_ban_rate : float
        Share of all bans that hit ordinary accounts (label noise).
    ordinary_violation_rate : float
        Share of ordinary accounts with a violation.
    cleared_share, min_cleared : float, int
        ``max(min_cleared, cleared_share * n_ordinary)`` ordinary accounts get a
        ``cleared`` review.
    cleared_near_offender_share : float
        Share of the cleared accounts picked among ordinary accounts next to
        offenders (sharing a hub or an edge).

    Examples
    --------
    >>> cfg = SynthConfig(hidden_share=0.3, n_nat_ips=5)
    >>> cfg.full_rotator_share
    0.3
    >>> SynthConfig(hidden_share=1.5)
    Traceback (most recent call last):
    ...
    ValueError: SynthConfig.hidden_share must be a number in [0, 1), got 1.5
    """

    start: str = "2024-06-30T00:00:00Z"
    end: str = "2026-06-30T00:00:00Z"
    offender_share: float = 0.03
    mean_evasions: float = 1.5
    max_generations: int = 6
    multi_account_share: float = 0.25
    extra_accounts: tuple[int, int] = (1, 3)
    full_rotator_share: float = 0.30
    ring_actor_share: float = 0.25
    ring_size: tuple[int, int] = (3, 10)
    ring_density: float = 0.5
    household_share: float = 0.12
    household_size: tuple[int, int] = (2, 4)
    n_nat_ips: int | None = None
    nat_ip_accounts: tuple[int, int] = (200, 3000)
    n_shared_devices: int | None = None
    shared_device_accounts: tuple[int, int] = (30, 300)
    hub_max_fraction: float = 0.05
    hub_offender_share: float = 0.10
    background_edges_per_account: float = 1.5
    victims_per_offender_account: float = 3.0
    repeat_observation_rate: float = 0.12
    hidden_share: float = 0.40
    offender_ban_rate: float = 0.5
    wrong_ban_rate: float = 0.02
    ordinary_violation_rate: float = 0.01
    cleared_share: float = 0.02
    min_cleared: int = 30
    cleared_near_offender_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("extra_accounts", "ring_size", "household_size", "nat_ip_accounts",
                     "shared_device_accounts"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        t0, t1 = _parse_utc("start", self.start), _parse_utc("end", self.end)
        if t1 - t0 < 30 * _DAY:
            raise ValueError(f"SynthConfig.end must be at least 30 days after start, "
                             f"got start={self.start!r}, end={self.end!r}")
        if t1 - t0 > 50 * 365 * _DAY:
            raise ValueError(
                f"SynthConfig.end must be at most 50 years after start, got {self.end!r}")
        for name in ("offender_share", "multi_account_share", "full_rotator_share",
                     "ring_actor_share", "ring_density", "household_share", "hub_max_fraction",
                     "hub_offender_share", "repeat_observation_rate", "offender_ban_rate",
                     "ordinary_violation_rate", "cleared_share", "cleared_near_offender_share"):
            _check_share(name, getattr(self, name))
        if self.offender_share > 0.5:
            raise ValueError(
                f"SynthConfig.offender_share must be at most 0.5, got {self.offender_share!r}")
        if self.hub_max_fraction <= 0:
            raise ValueError(
                f"SynthConfig.hub_max_fraction must be > 0, got {self.hub_max_fraction!r}")
        _check_share("hidden_share", self.hidden_share, upper_open=True)
        _check_share("wrong_ban_rate", self.wrong_ban_rate, upper_open=True)
        if self.wrong_ban_rate > 0.5:
            raise ValueError(
                f"SynthConfig.wrong_ban_rate must be at most 0.5, got {self.wrong_ban_rate!r}")
        _check_nonneg("mean_evasions", self.mean_evasions)
        _check_nonneg("background_edges_per_account", self.background_edges_per_account)
        _check_nonneg("victims_per_offender_account", self.victims_per_offender_account)
        if self.background_edges_per_account > 1000:
            raise ValueError("SynthConfig.background_edges_per_account must be at most 1000, "
                             f"got {self.background_edges_per_account!r}")
        if self.victims_per_offender_account > 1000:
            raise ValueError("SynthConfig.victims_per_offender_account must be at most 1000, "
                             f"got {self.victims_per_offender_account!r}")
        _check_int("max_generations", self.max_generations, 1)
        if self.max_generations > 50:
            raise ValueError(
                f"SynthConfig.max_generations must be at most 50, got {self.max_generations!r}")
        _check_int("min_cleared", self.min_cleared, 0)
        _check_range("extra_accounts", self.extra_accounts, 1)
        if self.extra_accounts[1] > 20:
            raise ValueError(
                f"SynthConfig.extra_accounts must be at most 20, got {self.extra_accounts!r}")
        _check_range("ring_size", self.ring_size, 2)
        _check_range("household_size", self.household_size, 2)
        _check_range("nat_ip_accounts", self.nat_ip_accounts, 2)
        _check_range("shared_device_accounts", self.shared_device_accounts, 2)
        for name in ("n_nat_ips", "n_shared_devices"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 0)
                if value > 1_000_000:
                    raise ValueError(f"SynthConfig.{name} must be at most 1,000,000, got {value!r}")

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(start, end)`` as UTC timestamps."""
        return (pd.Timestamp(_parse_utc("start", self.start), unit="s", tz="UTC"),
                pd.Timestamp(_parse_utc("end", self.end), unit="s", tz="UTC"))


# --------------------------------------------------------------------------- platform


@dataclass
class Platform:
    """A generated platform: the four input tables plus the ground truth.

    Attributes
    ----------
    accounts : pandas.DataFrame
        ``account_id, created_at, country, signup_channel, n_logins_30d,
        avg_session_min, payment_volume_30d, n_failed_payments,
        profile_completeness``.
    identifiers : pandas.DataFrame
        ``account_id, kind, value, seen_at``, sorted by ``seen_at``.
    edges : pandas.DataFrame
        ``src, dst, kind, weight, at, amount`` (``amount`` NaN for messages;
        ``weight`` is ``log1p(amount)`` for transfers and the number of
        messages for messages), sorted by ``at``.
    enforcement : pandas.DataFrame
        ``account_id, action, at, reason`` (``reason`` empty for ``cleared``),
        sorted by ``at``.
    truth : pandas.DataFrame
        One row per account, see the module docstring.
    hubs : pandas.DataFrame
        The planted hubs: ``kind, value, n_accounts, n_offender_accounts``.
    seed : int or None
        The seed it was generated with.
    config : SynthConfig or None
        The configuration it was generated with.
    """

    accounts: pd.DataFrame
    identifiers: pd.DataFrame
    edges: pd.DataFrame
    enforcement: pd.DataFrame
    truth: pd.DataFrame
    hubs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"kind": [], "value": [], "n_accounts": [], "n_offender_accounts": []}))
    seed: int | None = None
    config: SynthConfig | None = None

    def summary(self) -> dict[str, Any]:
        """Counts worth printing.

        Returns
        -------
        dict
            Rows per table, offender, evader, full-rotator, hidden, ring,
            household and hub counts, and the enforcement mix (bans, wrong bans,
            violations, cleared).

        Examples
        --------
        >>> p = generate_platform(2_000, seed=1)
        >>> s = p.summary()
        >>> s["n_accounts"], s["n_offender_accounts"]
        (2000, 60)
        """
        t, enf = self.truth, self.enforcement
        off = t["is_offender"].to_numpy(bool)
        role = t["role"]
        action = enf["action"]
        ban_ids = enf.loc[(action == "ban").to_numpy(), "account_id"]
        ban_off = pd.Series(off, index=t["account_id"].to_numpy()).reindex(ban_ids.to_numpy())
        n_bans = int(len(ban_ids))
        n_wrong = int((~ban_off.to_numpy(bool)).sum()) if n_bans else 0
        hubs = self.hubs
        out: dict[str, Any] = {
            "n_accounts": int(len(self.accounts)),
            "n_identifier_rows": int(len(self.identifiers)),
            "n_edges": int(len(self.edges)),
            "n_enforcement": int(len(enf)),
            "n_actors": int(t["actor_id"].nunique()),
            "n_offender_actors": int(t.loc[off, "actor_id"].nunique()),
            "n_offender_accounts": int(off.sum()),
            "offender_share": float(off.mean()) if len(off) else 0.0,
            "n_evader_accounts": int((t["generation"].to_numpy() >= 1).sum()),
            "n_multi_accounts": int((role == "multi_account").sum()),
            "n_full_rotator_accounts": int(t["full_rotator"].sum()),
            "n_hidden": int(t["hidden"].sum()),
            "hidden_share": float(t["hidden"].sum() / max(1, off.sum())),
            "n_rings": int(t.loc[t["ring_id"] != "", "ring_id"].nunique()),
            "n_ring_accounts": int((t["ring_id"] != "").sum()),
            "n_households": int(t.loc[t["household_id"] != "", "household_id"].nunique()),
            "n_bans": n_bans,
            "n_wrong_bans": n_wrong,
            "wrong_ban_rate": n_wrong / n_bans if n_bans else 0.0,
            "n_violations": int((action == "violation").sum()),
            "n_cleared": int((action == "cleared").sum()),
            "n_nat_ips": int((hubs["kind"] == "ip").sum()),
            "n_shared_devices": int((hubs["kind"] == "device").sum()),
            "largest_hub_accounts": int(hubs["n_accounts"].max()) if len(hubs) else 0,
            "identifier_rows_by_kind":
                self.identifiers["kind"].value_counts().sort_index().to_dict(),
            "edges_by_kind": self.edges["kind"].value_counts().sort_index().to_dict(),
        }
        return out


# --------------------------------------------------------------------------- helpers


def _str(values: np.ndarray | pa.Array) -> pa.Array:
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    return pc.cast(arr, pa.string())


def _padded(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_str(values), width=width, padding="0")


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _take(dictionary: pa.Array, idx: np.ndarray,
          pool: ThreadPoolExecutor | None = None) -> pa.ChunkedArray:
    """``dictionary[idx]`` as a chunked array (string buffers stay small).

    With a ``pool`` the chunks are gathered in parallel (Arrow releases the GIL).
    """
    idx = np.asarray(idx, np.int64)
    if pa.types.is_string(dictionary.type):  # pandas keeps str columns as large_string
        dictionary = dictionary.cast(pa.large_string())
    if len(idx) == 0:
        return pa.chunked_array([pc.take(dictionary, pa.array(idx))])
    step = _CHUNK if pool is None else _CHUNK // 4

    def one(i: int) -> pa.Array:
        return pc.take(dictionary, pa.array(idx[i:i + step]))

    starts = range(0, len(idx), step)
    chunks = list(pool.map(one, starts)) if pool is not None and len(idx) > step \
        else [one(i) for i in starts]
    return pa.chunked_array(chunks)


def _loguniform_int(rng: np.random.Generator, lo: int, hi: int, size: int) -> np.ndarray:
    x = np.exp(rng.uniform(np.log(lo), np.log(hi + 1), size))
    return np.clip(np.floor(x).astype(np.int64), lo, hi)


def _groups(rng: np.random.Generator, members: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Split ``members`` (already shuffled) into consecutive groups of ``lo..hi``.

    Returns the group index of each member; -1 for a remainder shorter than ``lo``.
    """
    k = len(members)
    out = np.full(k, -1, np.int64)
    if k < lo:
        return out
    sizes = rng.integers(lo, hi + 1, k // lo + 1)
    ends = np.cumsum(sizes)
    n_groups = int(np.searchsorted(ends, k, side="left")) + 1
    ends = ends[:n_groups]
    group = np.searchsorted(ends, np.arange(k), side="right")
    last_start = ends[-2] if n_groups > 1 else 0
    if k - last_start < lo:  # a remainder shorter than lo stays out of any group
        group[group == n_groups - 1] = -1
    out[:] = group
    return out


def _group_pairs(members: np.ndarray,
                 group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs ``(a, b)``, ``a != b``, of members in the same group."""
    if len(members) == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    order = np.argsort(group, kind="stable")
    m, g = members[order], group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    size_of = np.repeat(sizes, sizes)
    start_of = np.repeat(starts, sizes)
    a = np.repeat(np.arange(len(m)), size_of)
    first = np.repeat(np.cumsum(size_of) - size_of, size_of)
    b = np.repeat(start_of, size_of) + (np.arange(len(a)) - first)
    keep = a != b
    return m[a[keep]], m[b[keep]], g[a[keep]]


def _sort_order(t: np.ndarray) -> np.ndarray:
    """Row order sorting ``t`` (ints in ``[0, 2**31)``); ties in a scrambled row order.

    Packs a bijective scramble of the row number under the key and uses a plain
    (SIMD) sort, several times faster than ``argsort``; the scramble keeps rows
    of one second from coming out in construction order (which groups roles).
    """
    R = len(t)
    if R == 0:
        return np.zeros(0, np.int64)
    bits = max(1, int(R - 1).bit_length())
    mask = (1 << bits) - 1
    mul = (0x9E3779B1 & mask) | 1
    inv = pow(mul, -1, 1 << bits)
    scr = (np.arange(R, dtype=np.int64) * mul + 0x2545F491) & mask
    packed = (t.astype(np.int64) << bits) | scr
    packed.sort()
    return (((packed & mask) - 0x2545F491) * inv) & mask


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer seconds uniformly in ``[lo, hi)`` (``hi > lo``)."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo)).astype(np.int64)


def _dup_mask(primary: np.ndarray, order: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Positions in ``order`` whose row repeats an earlier one on all keys.

    ``primary`` is the sort key already in ``order`` (below ``2**36``);
    ``others`` are further key columns in row order (``others[0]`` below
    ``2**27``). Only rows tied on ``primary`` and ``others[0]`` are compared in full.
    """
    n = len(primary)
    dup = np.zeros(n, bool)
    if n < 2:
        return dup
    tie = primary[1:] == primary[:-1]
    if not tie.any():
        return dup
    in_tie = np.zeros(n, bool)
    in_tie[1:] |= tie
    in_tie[:-1] |= tie
    sub = np.flatnonzero(in_tie)
    k2 = (primary[sub].astype(np.int64) << 27) | others[0][order[sub]].astype(np.int64)
    s2 = np.sort(k2)
    repeated = s2[1:][s2[1:] == s2[:-1]]
    if len(repeated) == 0:
        return dup
    sub = sub[np.isin(k2, repeated)]
    rows = order[sub]
    o2 = np.lexsort([k[rows] for k in others[::-1]] + [primary[sub]])
    s, r = sub[o2], rows[o2]
    same = primary[s[1:]] == primary[s[:-1]]
    for k in others:
        same &= k[r[1:]] == k[r[:-1]]
    dup[s[1:][same]] = True
    return dup


class _Counter:
    """Sequential ids per identifier kind (values are anonymised at formatting)."""

    def __init__(self) -> None:
        self.next = [0] * 6

    def alloc(self, kind: int, n: int) -> np.ndarray:
        start = self.next[kind]
        self.next[kind] += int(n)
        return np.arange(start, start + int(n), dtype=np.int64)


# --------------------------------------------------------------------------- offenders


def _simulate_offenders(rng: np.random.Generator, cfg: SynthConfig, n_off: int,
                        W: int) -> dict[str, np.ndarray]:
    """Offender actors and their chains of accounts, flattened actor-major.

    Returns per-account arrays (length ``n_off``) and per-actor arrays.
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
        life = np.maximum(rng.lognormal(np.log(35 * _DAY), 0.9, (A, maxg)), 6 * _HOUR)
        delay = np.maximum(rng.lognormal(np.log(3 * _DAY), 1.0, (A, maxg)), _HOUR)
        step = np.cumsum(life + delay, axis=1)
        created = c0[:, None] + np.concatenate([np.zeros((A, 1)), step[:, :-1]], axis=1)
        ban = created + life
        valid = (np.arange(maxg)[None, :] < G[:, None]) & (created < W - 2 * _DAY)
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
    span = np.minimum(b_gen, W - _DAY) - c_gen
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
        grp = _groups(rng, chosen, *cfg.ring_size)
        ring_of_actor[chosen] = grp
        in_ring = ring_of_actor >= 0
        actor_type[in_ring] = np.where(rng.random(int(in_ring.sum())) < 0.85, 0,
                                       actor_type[in_ring])
    return dict(actor=actor, gen=gen, primary=primary, created=created_acc, has_succ=has_succ,
                pred=pred, source=source, chain_ban=chain_ban, rotator=rotator,
                actor_type=actor_type, ring_of_actor=ring_of_actor, n_actors=np.int64(n_actors))


# --------------------------------------------------------------------------- main


def generate_platform(n_accounts: int = 10_000, seed: int = 0,
                      config: SynthConfig | None = None) -> Platform:
    """Generate a synthetic platform with ground truth.

    Parameters
    ----------
    n_accounts : int
        Total number of accounts (exact), 50 to 100,000,000.
    seed : int
        Seed for :func:`numpy.random.default_rng`; the output is a pure
        function of ``(n_accounts, seed, config)``.
    config : SynthConfig, optional
        All other knobs; defaults to ``SynthConfig()``.

    Returns
    -------
    Platform
        ``accounts``, ``identifiers``, ``edges``, ``enforcement`` (ringfence's
        input contract) and ``truth``, as DataFrames; timestamps are
        ``datetime64[ns, UTC]``, strings are pandas ``str``.

    Raises
    ------
    ValueError
        If ``n_accounts`` or ``seed`` is out of range, or ``hidden_share``
        cannot be reached (more offender accounts would have to stay hidden
        than were not banned to trigger an evasion).

    Examples
    --------
    >>> p = generate_platform(5_000, seed=7)
    >>> len(p.accounts), int(p.truth["is_offender"].sum())
    (5000, 150)
    >>> sorted(p.identifiers["kind"].unique())
    ['address', 'card', 'device', 'email', 'ip', 'phone']
    """
    if not isinstance(n_accounts, (int, np.integer)) or isinstance(n_accounts, bool) \
            or not 50 <= n_accounts <= _MAX_ACCOUNTS:
        raise ValueError(
            f"n_accounts must be an integer in [50, {_MAX_ACCOUNTS:,}], got {n_accounts!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if config is not None and not isinstance(config, SynthConfig):
        raise ValueError(f"config must be a SynthConfig, got {type(config).__name__}")
    cfg = config if config is not None else SynthConfig()
    n = int(n_accounts)
    rng = np.random.default_rng(int(seed))
    T0 = _parse_utc("start", cfg.start)
    W = _parse_utc("end", cfg.end) - T0

    # ------------------------------------------------------------------ actors and accounts
    n_off = int(round(cfg.offender_share * n))
    n_ord = n - n_off
    o = None
    k_hidden = int(round(cfg.hidden_share * n_off))
    for _attempt in range(50 if n_off else 0):
        # hidden accounts must come from accounts whose ban did not trigger an
        # evasion; a small platform can draw too few of them: draw again
        o = _simulate_offenders(rng, cfg, n_off, W)
        n_eligible = n_off - int((o["primary"] & o["has_succ"]).sum())
        if k_hidden <= n_eligible:
            break
    else:
        if n_off:
            raise ValueError(
                f"hidden_share={cfg.hidden_share} cannot be reached: at most "
                f"{n_eligible / n_off:.3f} of the offender accounts can stay hidden (the "
                "others were banned, which is what their evasion accounts evade); lower "
                "hidden_share or mean_evasions")
    n_off_actors = int(o["n_actors"]) if o else 0

    created = np.empty(n, np.int64)
    created[n_off:] = np.minimum(np.floor(rng.beta(1.3, 1.0, n_ord) * W), W - 2 * _DAY)
    actor = np.empty(n, np.int64)
    actor[n_off:] = n_off_actors + np.arange(n_ord)
    gen = np.zeros(n, np.int64)
    role = np.full(n, _ORDINARY, np.int8)
    rotator = np.zeros(n, bool)
    ring = np.full(n, -1, np.int64)
    pred = np.full(n, -1, np.int64)
    atype = np.full(n, -1, np.int64)
    if o:
        created[:n_off] = o["created"]
        actor[:n_off] = o["actor"]
        gen[:n_off] = o["gen"]
        role[:n_off] = np.where(~o["primary"], _MULTI, np.where(o["gen"] >= 1, _EVADER, _OFFENDER))
        rotator[:n_off] = o["rotator"]
        ring[:n_off] = o["ring_of_actor"][o["actor"]]
        pred[:n_off] = o["pred"]
        atype[:n_off] = o["actor_type"][o["actor"]]
    is_off = np.zeros(n, bool)
    is_off[:n_off] = True
    n_actors = n_off_actors + n_ord

    # households among ordinary accounts
    household = np.full(n, -1, np.int64)
    n_hh_members = int(round(cfg.household_share * n_ord))
    if n_hh_members >= cfg.household_size[0]:
        members = n_off + rng.permutation(n_ord)[:n_hh_members]
        household[members] = _groups(rng, members, *cfg.household_size)
    n_households = int(household.max()) + 1 if n_hh_members else 0

    # ------------------------------------------------------------------ offender enforcement
    enf_acct: list[np.ndarray] = []
    enf_action: list[np.ndarray] = []
    enf_at: list[np.ndarray] = []
    enf_reason: list[np.ndarray] = []

    def add_enf(acct: np.ndarray, action: int, at: np.ndarray, reason: np.ndarray) -> None:
        enf_acct.append(acct.astype(np.int64))
        enf_action.append(np.full(len(acct), action, np.int8))
        enf_at.append(at.astype(np.int64))
        enf_reason.append(reason.astype(np.int8))

    def reasons_for(acct: np.ndarray) -> np.ndarray:
        """Violation reasons by actor type (10 % off-type)."""
        t = atype[acct]
        u = rng.random(len(acct))
        r = np.where(t == 0, np.where(u < 0.6, _FRAUD, _CHARGEBACK),
                     np.where(t == 1, _SPAM, _HARASSMENT))
        noise = rng.random(len(acct)) < 0.10
        return np.where(noise, rng.integers(0, 4, len(acct)), r)

    end = np.full(n, W, np.int64)  # last moment each account is active
    banned = np.zeros(n, bool)
    hidden = np.zeros(n, bool)
    if n_off:
        mandatory = o["primary"] & o["has_succ"]  # their ban is what the next generation evades
        eligible = ~mandatory
        score = created[:n_off] + rng.exponential(90 * _DAY, n_off)
        score[~eligible] = -np.inf
        hid = np.argsort(-score, kind="stable")[:k_hidden]
        hidden[hid] = True
        rest = eligible & ~hidden[:n_off]
        ban_rest = rest & (rng.random(n_off) < cfg.offender_ban_rate)
        c = created[:n_off]
        life = np.maximum(rng.lognormal(np.log(35 * _DAY), 0.9, n_off), 6 * _HOUR)
        t_ban = c + life.astype(np.int64)
        late = t_ban >= W - _HOUR
        t_late = c + (rng.uniform(0.3, 0.95, n_off) * (W - _HOUR - c)).astype(np.int64)
        t_ban = np.where(late, t_late, t_ban)
        ban_t = np.where(mandatory, o["chain_ban"], t_ban)
        is_banned = mandatory | ban_rest
        banned[:n_off] = is_banned
        end[:n_off] = np.where(is_banned, ban_t, W)
        flagged = np.flatnonzero(mandatory | rest)
        k_v = 1 + rng.poisson(1.2, len(flagged))
        v_acct = np.repeat(flagged, k_v)
        v_lo = created[v_acct] + 60
        v_hi = end[v_acct] - 60
        add_enf(v_acct, _VIOLATION, _uniform_between(rng, v_lo, v_hi), reasons_for(v_acct))
        b_acct = np.flatnonzero(is_banned)
        add_enf(b_acct, _BAN, end[b_acct], reasons_for(b_acct))
    n_off_bans = int(banned.sum())

    # ------------------------------------------------------------------ identifiers (structure)
    ctr = _Counter()
    dev0 = ctr.alloc(_DEV, n)
    phone = ctr.alloc(_PHONE, n)
    card0 = ctr.alloc(_CARD, n)
    addr = ctr.alloc(_ADDR, n)
    ip_home = ctr.alloc(_IP, n) << 8  # key = base id << 8 | host offset (0 = the base IP)
    local = ctr.alloc(_EMAIL, n)  # email local parts
    dom = rng.choice(len(_DOMAINS), n, p=_DOMAIN_P).astype(np.int64)
    var = np.zeros(n, np.int64)

    # countries: per actor for offenders, per household for members
    country = np.where(is_off, rng.choice(10, n, p=_COUNTRY_P_OFF), rng.choice(10, n, p=_COUNTRY_P))
    if n_off:
        actor_country = rng.choice(10, n_off_actors, p=_COUNTRY_P_OFF)
        keep_c = rng.random(n_off) < 0.85
        country[:n_off] = np.where(keep_c, actor_country[actor[:n_off]], country[:n_off])
    hh_members = np.flatnonzero(household >= 0)
    if n_households:
        hh_country = rng.choice(10, n_households, p=_COUNTRY_P)
        country[hh_members] = hh_country[household[hh_members]]
        hh_ip = ctr.alloc(_IP, n_households) << 8
        hh_addr = ctr.alloc(_ADDR, n_households)
        hh_dev = ctr.alloc(_DEV, n_households)
        ip_home[hh_members] = hh_ip[household[hh_members]]
        addr[hh_members] = hh_addr[household[hh_members]]

    # ban evasion and multi-accounting: reuse, level by level (sources come first)
    if n_off:
        src_all = o["source"]
        for g in range(cfg.max_generations):
            for prim in (True, False):
                sel = np.flatnonzero((o["gen"] == g) & (o["primary"] == prim) & (src_all >= 0))
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
                other_dom = (dom[src] + rng.integers(1, len(_DOMAINS), m)) % len(_DOMAINS)
                bump = rng.random(m) < 0.4
                reuse_local = exact_mail | pattern
                local[sel] = np.where(reuse_local, local[src], local[sel])
                new_dom = np.where(bump, dom[src], other_dom)
                dom[sel] = np.where(exact_mail, dom[src], np.where(pattern, new_dom, dom[sel]))
                var[sel] = np.where(exact_mail, var[src],
                                    np.where(pattern & bump, (var[src] + 1) % len(_EMAIL_VARIANTS),
                                             np.where(pattern, var[src], var[sel])))
                # address
                p_addr = np.where(rot, 0.15, 0.5 if prim else 0.8)
                addr[sel] = np.where(u[5] < p_addr, addr[src], addr[sel])

    blocks: list[tuple[np.ndarray, int, np.ndarray, bool, float]] = []
    rep = cfg.repeat_observation_rate

    def add_ids(acct: np.ndarray, kind: int, key: np.ndarray, signup: bool = False,
                repeat: float = rep) -> None:
        if len(acct):
            blocks.append((acct.astype(np.int32), kind, key.astype(np.int64), signup, repeat))

    all_acc = np.arange(n, dtype=np.int64)
    add_ids(all_acc, _DEV, dev0, signup=True)
    add_ids(all_acc, _PHONE, phone, signup=True)
    add_ids(all_acc, _EMAIL, (local << 8) | (dom << 3) | var, signup=True)
    add_ids(all_acc, _IP, ip_home, signup=True)
    add_ids(all_acc, _CARD, card0)
    add_ids(all_acc, _ADDR, addr)
    if n_households:
        add_ids(hh_members, _DEV, hh_dev[household[hh_members]], repeat=min(1.0, 2 * rep))
    # extra devices, cards and IPs (offenders use more)
    n_xdev = np.where(is_off, rng.choice(3, n, p=[0.5, 0.35, 0.15]),
                      rng.choice(3, n, p=[0.6, 0.3, 0.1]))
    acc = np.repeat(all_acc, n_xdev)
    add_ids(acc, _DEV, ctr.alloc(_DEV, len(acc)))
    p_card = np.where(is_off, np.where(atype == 0, 0.45, 0.25), 0.10)
    acc = np.flatnonzero(rng.random(n) < p_card)
    add_ids(acc, _CARD, ctr.alloc(_CARD, len(acc)))
    n_xip = np.where(is_off, rng.choice(4, n, p=[0.3, 0.35, 0.2, 0.15]),
                     rng.choice(4, n, p=[0.65, 0.25, 0.10, 0.0]))
    acc = np.repeat(all_acc, n_xip)
    add_ids(acc, _IP, ctr.alloc(_IP, len(acc)) << 8)

    # rings share some devices, cards and proxy IPs
    n_rings = 0
    if n_off:
        n_rings = int(o["ring_of_actor"].max()) + 1 if (o["ring_of_actor"] >= 0).any() else 0
    if n_rings:
        racc = np.flatnonzero(ring >= 0)
        r = ring[racc]
        for kind, (lo_k, hi_k), p_use, strong in ((_IP, (1, 3), 0.7, False),
                                                  (_DEV, (1, 2), 0.35, True),
                                                  (_CARD, (1, 2), 0.30, True)):
            size = rng.integers(lo_k, hi_k + 1, n_rings)
            offs = np.cumsum(size) - size
            pool = ctr.alloc(kind, int(size.sum()))
            use = rng.random(len(racc)) < p_use
            if strong:
                use &= ~rotator[racc]  # rotators keep no strong link to their past
            pick = offs[r] + np.floor(rng.random(len(racc)) * size[r]).astype(np.int64)
            key = pool[pick] << 8 if kind == _IP else pool[pick]
            add_ids(racc[use], kind, key[use])

    # hubs: NAT IPs and non-unique device values
    cap = max(2, int(cfg.hub_max_fraction * n))
    auto = max(3, math.ceil(4 * n / 100_000))
    n_nat = cfg.n_nat_ips if cfg.n_nat_ips is not None else auto
    n_sdev = cfg.n_shared_devices if cfg.n_shared_devices is not None else auto
    hub_kind: list[int] = []
    hub_size: list[int] = []
    hub_noff: list[int] = []
    hub_members: list[np.ndarray] = []
    devhub_pool = np.flatnonzero(is_off & ~rotator)
    for kind, count, (lo_h, hi_h) in ((_IP, n_nat, cfg.nat_ip_accounts),
                                      (_DEV, n_sdev, cfg.shared_device_accounts)):
        sizes = np.minimum(_loguniform_int(rng, lo_h, hi_h, count), min(cap, n))
        for h in range(count):
            s = int(sizes[h])
            pool = np.arange(n_off) if kind == _IP else devhub_pool
            rate = n_off / n if kind == _IP else cfg.hub_offender_share
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
    for kind in (_IP, _DEV):
        hs = hub_no[hub_kind_a == kind]
        if len(hs):
            mem = np.concatenate([hub_members[h] for h in hs])
            key = np.repeat(_HUB + np.arange(len(hs)), [len(hub_members[h]) for h in hs])
            add_ids(mem, kind, key, repeat=0.5 if kind == _IP else rep)
    hub_member_all = (np.concatenate(hub_members) if hub_members else np.zeros(0, np.int64))
    hub_of_member = np.repeat(hub_no, [len(m) for m in hub_members]) if hub_members \
        else np.zeros(0, np.int64)
    hub_has_off = np.array(hub_noff, np.int64) > 0 if hub_members else np.zeros(0, bool)
    near = np.zeros(n, bool)  # ordinary accounts next to an offender (structural)
    if len(hub_member_all):
        near[hub_member_all[hub_has_off[hub_of_member]]] = True

    # ------------------------------------------------------------------ edges (structure)
    e_src: list[np.ndarray] = []
    e_dst: list[np.ndarray] = []
    e_kind: list[np.ndarray] = []
    e_amt: list[np.ndarray] = []  # NaN for messages

    def add_edges(s: np.ndarray, d: np.ndarray, kind: np.ndarray, median: float) -> None:
        keep = s != d
        s, d, kind = s[keep], d[keep], kind[keep]
        amt = np.round(np.maximum(rng.lognormal(np.log(median), 1.0, len(s)), 1.0), 2)
        e_src.append(s.astype(np.int64))
        e_dst.append(d.astype(np.int64))
        e_kind.append(kind.astype(np.int8))
        e_amt.append(np.where(kind == _TRANSFER, amt, np.nan))

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
    add_edges(s, d, np.where(rng.random(m_bg) < 0.35, _TRANSFER, _MESSAGE), 35.0)
    del s, d, local_d, offset, tickets, pos, at_pos, activity
    if n_households:
        a, b, _ = _group_pairs(hh_members, household[hh_members])
        k = 1 + rng.poisson(1.5, len(a))
        a, b = np.repeat(a, k), np.repeat(b, k)
        add_edges(a, b, np.where(rng.random(len(a)) < 0.15, _TRANSFER, _MESSAGE), 40.0)
    if n_off:
        sib = np.flatnonzero(~o["primary"])
        prim_of = o["source"][sib]  # a sibling's source is its generation's primary
        k = np.where(rng.random(len(sib)) < 0.6, 1 + rng.poisson(1.0, len(sib)), 0)
        a, b = np.repeat(sib, k), np.repeat(prim_of, k)
        flip = rng.random(len(a)) < 0.5
        add_edges(np.where(flip, b, a), np.where(flip, a, b),
                  np.where(rng.random(len(a)) < 0.75, _TRANSFER, _MESSAGE), 200.0)
        if n_rings:
            racc = np.flatnonzero(ring >= 0)
            a, b, _ = _group_pairs(racc, ring[racc])
            keep = (a < b) & (actor[a] != actor[b]) & (rng.random(len(a)) < cfg.ring_density)
            a, b = a[keep], b[keep]
            k = 1 + rng.poisson(1.5, len(a))
            a, b = np.repeat(a, k), np.repeat(b, k)
            flip = rng.random(len(a)) < 0.5
            add_edges(np.where(flip, b, a), np.where(flip, a, b),
                      np.where(rng.random(len(a)) < 0.9, _TRANSFER, _MESSAGE), 400.0)
        # victims
        k = rng.poisson(cfg.victims_per_offender_account, n_off)
        off_a = np.repeat(np.arange(n_off), k)
        vic = n_off + np.minimum(np.floor(rng.random(len(off_a)) * n_ord).astype(np.int64),
                                 n_ord - 1)
        fraud = atype[off_a] == 0
        add_edges(np.where(fraud, vic, off_a), np.where(fraud, off_a, vic),
                  np.where(fraud, _TRANSFER, _MESSAGE), 150.0)
    src_e = np.concatenate(e_src)
    dst_e = np.concatenate(e_dst)
    kind_e = np.concatenate(e_kind)
    amt_e = np.concatenate(e_amt)
    lo_e = np.maximum(created[src_e], created[dst_e])
    # structural neighbours of offenders (edges that can happen given offender ends)
    hi_off = np.minimum(end[src_e], end[dst_e])
    touch = (is_off[src_e] != is_off[dst_e]) & (hi_off - lo_e > 600)
    near[np.where(is_off[src_e], dst_e, src_e)[touch]] = True
    near[:n_off] = False

    # ------------------------------------------------------------------ ordinary enforcement
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
        t_ban = c + (rng.uniform(0.15, 0.95, len(w_acc)) * (W - _HOUR - c)).astype(np.int64)
        end[w_acc] = t_ban
        banned[w_acc] = True
        has_v = rng.random(len(w_acc)) < 0.6
        va = w_acc[has_v]
        add_enf(va, _VIOLATION, _uniform_between(rng, created[va] + 60, end[va] - 60),
                rng.choice(4, len(va), p=[0.35, 0.35, 0.2, 0.1]))
        add_enf(w_acc, _BAN, end[w_acc], rng.choice(4, len(w_acc), p=[0.4, 0.3, 0.2, 0.1]))
    violated = np.zeros(n, bool)
    k_viol = int(round(cfg.ordinary_violation_rate * n_ord))
    pool_v = ordinary[~wrong[ordinary]]
    k_viol = min(k_viol, len(pool_v))
    if k_viol:
        va = pool_v[rng.choice(len(pool_v), k_viol, replace=False)]
        violated[va] = True
        va = np.repeat(va, np.where(rng.random(k_viol) < 0.15, 2, 1))
        add_enf(va, _VIOLATION, _uniform_between(rng, created[va] + 60, end[va] - 60),
                rng.choice(4, len(va), p=[0.10, 0.40, 0.15, 0.35]))

    # ------------------------------------------------------------------ times
    # edges: inside both accounts' active windows
    hi_e = np.minimum(end[src_e], end[dst_e])
    ok = hi_e - lo_e > 600
    src_e, dst_e, kind_e, amt_e, lo_e, hi_e = (
        x[ok] for x in (src_e, dst_e, kind_e, amt_e, lo_e, hi_e))
    at_e = _uniform_between(rng, lo_e + 60, hi_e - 60)
    n_msgs = rng.geometric(0.35, len(src_e)).astype(np.float64)
    weight_e = np.where(kind_e == _TRANSFER, np.round(np.log1p(np.nan_to_num(amt_e, nan=1.0)), 4),
                        n_msgs)
    # final neighbourhood (edges as kept) and cleared reviews
    near_final = np.zeros(n, bool)
    if len(hub_member_all):
        near_final[hub_member_all[hub_has_off[hub_of_member]]] = True
    touch = is_off[src_e] != is_off[dst_e]
    near_final[np.where(is_off[src_e], dst_e, src_e)[touch]] = True
    near_final[:n_off] = False
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
        add_enf(ca, _CLEARED, c + (rng.uniform(0.1, 0.99, len(ca)) * (W - 60 - c)).astype(np.int64),
                np.full(len(ca), -1))

    # identifier observations
    acct_i = np.concatenate([b[0] for b in blocks])
    kind_i = np.concatenate([np.full(len(b[0]), b[1], np.int8) for b in blocks])
    key_i = np.concatenate([b[2] for b in blocks])
    signup_i = np.concatenate([np.full(len(b[0]), b[3], bool) for b in blocks])
    rep_i = np.concatenate([np.full(len(b[0]), b[4]) for b in blocks])
    del blocks
    n_pairs = len(acct_i)
    # first observations (at signup for the identifiers an account signs up with),
    # then the repeats, appended; the sort by time mixes them
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
    del c, life_r, frac, window, again, signup_i

    # ------------------------------------------------------------------ attributes
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
    channel = np.where(is_off, np.searchsorted(np.cumsum(_CHANNEL_P_OFF), u * 0.999999),
                       np.searchsorted(np.cumsum(_CHANNEL_P), u * 0.999999))

    # ------------------------------------------------------------------ public ids
    pool = ThreadPoolExecutor(max_workers=2)  # Arrow gathers and string building, in parallel
    del lo_e, hi_e, hi_off, ok, touch, n_msgs, end, near, banned
    # the row-level arrays travel in a dict that _assemble empties, so each is
    # freed as soon as its table is built (keeps the peak memory down)
    rows = dict(kind_r=kind_r, key_r=key_r, acct_r=acct_r, seen=seen, src_e=src_e, dst_e=dst_e,
                kind_e=kind_e, weight_e=weight_e, amt_e=amt_e, at_e=at_e)
    del kind_r, key_r, acct_r, seen, src_e, dst_e, kind_e, weight_e, amt_e, at_e
    try:
        return _assemble(
            rows, rng=rng, pool=pool, n=n, n_actors=n_actors, ctr=ctr, hub_kind_a=hub_kind_a,
            hub_kind=hub_kind, hub_size=hub_size, hub_noff=hub_noff, country=country, T0=T0,
            enf_acct=enf_acct,
            enf_action=enf_action, enf_at=enf_at, enf_reason=enf_reason, created=created,
            channel=channel, logins=logins, session=session, volume=volume, failed=failed,
            complete=complete, n_rings=n_rings, n_households=n_households, actor=actor,
            role=role, is_off=is_off, gen=gen, rotator=rotator, hidden=hidden, ring=ring,
            household=household, pred=pred, atype=atype, wrong=wrong, near_final=near_final,
            seed=int(seed), cfg=cfg)
    finally:
        pool.shutdown()


def _assemble(rows: dict[str, np.ndarray], *, rng: np.random.Generator,
              pool: ThreadPoolExecutor, n: int, n_actors: int, ctr: _Counter,
              hub_kind_a: np.ndarray, hub_kind: list, hub_size: list, hub_noff: list,
              country: np.ndarray, T0: int, enf_acct: list, enf_action: list, enf_at: list,
              enf_reason: list,
              created: np.ndarray, channel: np.ndarray, logins: np.ndarray, session: np.ndarray,
              volume: np.ndarray, failed: np.ndarray, complete: np.ndarray, n_rings: int,
              n_households: int, actor: np.ndarray, role: np.ndarray, is_off: np.ndarray,
              gen: np.ndarray, rotator: np.ndarray, hidden: np.ndarray, ring: np.ndarray,
              household: np.ndarray, pred: np.ndarray, atype: np.ndarray, wrong: np.ndarray,
              near_final: np.ndarray, seed: int, cfg: SynthConfig) -> Platform:
    """Public ids, identifier strings, sorting, and the DataFrames.

    ``rows`` (identifier and edge rows) is emptied on the way.
    """
    def frame(table: pa.Table) -> pd.DataFrame:
        return table.to_pandas(self_destruct=True, split_blocks=True)

    width = max(7, len(str(n - 1)))
    acct_num = rng.permutation(n).astype(np.int64)
    acct_str = _join("acct_", _padded(acct_num, width)).cast(pa.large_string())
    actor_num = rng.permutation(n_actors).astype(np.int64)
    actor_str = _join("actor_", _padded(actor_num, max(7, len(str(n_actors - 1)))))

    # ------------------------------------------------------------------ identifier values
    n_nat_hubs = int((hub_kind_a == _IP).sum())
    n_dev_hubs = int((hub_kind_a == _DEV).sum())
    nat_values = _ip_strings(100 << 24 | 64 << 16 | (1 + rng.choice((1 << 22) - 2, n_nat_hubs,
                                                                    replace=False)))
    n_names = len(_HUB_DEVICE_NAMES)
    dev_hub_values = pa.array([_HUB_DEVICE_NAMES[h % n_names]
                               + ("" if h < n_names else f"-v{h // n_names}")
                               for h in range(n_dev_hubs)], pa.string())
    hub_values = [nat_values[i].as_py() for i in range(n_nat_hubs)] + dev_hub_values.to_pylist()
    kind_r, acct_r, seen = rows.pop("kind_r"), rows.pop("acct_r"), rows.pop("seen")
    values_dict, value_gid = _format_identifiers(rng, ctr, kind_r, rows.pop("key_r"), country,
                                                 nat_values, dev_hub_values, pool)

    # sort identifiers by seen_at and drop exact duplicates
    order = _sort_order(seen)
    dup = _dup_mask(seen[order], order, acct_r, kind_r, value_gid)
    order = order[~dup]
    identifiers = frame(pa.table({
        "account_id": _take(acct_str, acct_r[order], pool),
        "kind": _take(pa.array(IDENTIFIER_KINDS), kind_r[order], pool),
        "value": _take(values_dict, value_gid[order], pool),
        "seen_at": _ts(T0 + seen[order]),
    }))
    del order, dup, acct_r, kind_r, value_gid, seen, values_dict
    src_e, dst_e, kind_e = rows.pop("src_e"), rows.pop("dst_e"), rows.pop("kind_e")
    weight_e, amt_e, at_e = rows.pop("weight_e"), rows.pop("amt_e"), rows.pop("at_e")

    # edges sorted by at
    order = _sort_order(at_e)
    dup = _dup_mask(at_e[order], order, src_e, dst_e, kind_e, weight_e.view(np.int64),
                    np.nan_to_num(amt_e, nan=-1.0).view(np.int64))
    order = order[~dup]
    edges = frame(pa.table({
        "src": _take(acct_str, src_e[order], pool),
        "dst": _take(acct_str, dst_e[order], pool),
        "kind": _take(pa.array(EDGE_KINDS), kind_e[order], pool),
        "weight": pa.array(weight_e[order]),
        "at": _ts(T0 + at_e[order]),
        "amount": pa.array(amt_e[order], from_pandas=True),
    }))
    del order, dup, src_e, dst_e, kind_e, weight_e, amt_e, at_e

    # enforcement sorted by (at, account, action)
    ea = np.concatenate(enf_acct) if enf_acct else np.zeros(0, np.int64)
    eact = np.concatenate(enf_action) if enf_action else np.zeros(0, np.int8)
    eat = np.concatenate(enf_at) if enf_at else np.zeros(0, np.int64)
    ereason = np.concatenate(enf_reason) if enf_reason else np.zeros(0, np.int8)
    prim_key = (eat << 27) | acct_num[ea]  # acct_num < 2**27
    order = np.lexsort((eact, prim_key))
    dup = _dup_mask(eat[order], order, ea, eact, ereason)
    order = order[~dup]
    enf_tbl = pa.table({
        "account_id": _take(acct_str, ea[order]),
        "action": _take(pa.array(ACTIONS), eact[order]),
        "at": _ts(T0 + eat[order]),
        "reason": _take(pa.array(("",) + REASONS), ereason[order].astype(np.int64) + 1),
    })

    # accounts and truth sorted by account_id
    order = np.empty(n, np.int64)
    order[acct_num] = np.arange(n)
    acc_tbl = pa.table({
        "account_id": _take(acct_str, order),
        "created_at": _ts(T0 + created[order]),
        "country": _take(pa.array(_COUNTRIES), country[order]),
        "signup_channel": _take(pa.array(_CHANNELS), channel[order]),
        "n_logins_30d": pa.array(logins[order]),
        "avg_session_min": pa.array(session[order]),
        "payment_volume_30d": pa.array(volume[order]),
        "n_failed_payments": pa.array(failed[order]),
        "profile_completeness": pa.array(complete[order]),
    })
    ring_str = _join("ring_", _padded(np.arange(max(n_rings, 1)), 4))
    hh_str = _join("hh_", _padded(np.arange(max(n_households, 1)), 6))
    truth_tbl = pa.table({
        "account_id": _take(acct_str, order),
        "actor_id": _take(actor_str, actor[order]),
        "role": _take(pa.array(ROLES), role[order].astype(np.int64)),
        "is_offender": pa.array(is_off[order]),
        "generation": pa.array(gen[order]),
        "full_rotator": pa.array(rotator[order]),
        "hidden": pa.array(hidden[order]),
        "ring_id": _take(pa.concat_arrays([pa.array([""]), ring_str]), ring[order] + 1),
        "household_id": _take(pa.concat_arrays([pa.array([""]), hh_str]), household[order] + 1),
        "predecessor_id": _take(pa.concat_arrays([pa.array([""], pa.large_string()), acct_str]),
                                pred[order] + 1),
        "actor_type": _take(pa.array(("",) + ACTOR_TYPES), atype[order] + 1),
        "wrong_ban": pa.array(wrong[order]),
        "near_offender": pa.array(near_final[order]),
    })
    hubs_df = pd.DataFrame({
        "kind": pd.Series([IDENTIFIER_KINDS[k] for k in hub_kind], dtype="str"),
        "value": pd.Series(hub_values, dtype="str"),
        "n_accounts": np.array(hub_size, np.int64),
        "n_offender_accounts": np.array(hub_noff, np.int64),
    })
    accounts, truth = frame(acc_tbl), frame(truth_tbl)
    enforcement = frame(enf_tbl)
    pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back to the OS
    return Platform(
        accounts=accounts,
        identifiers=identifiers,
        edges=edges,
        enforcement=enforcement,
        truth=truth,
        hubs=hubs_df,
        seed=int(seed),
        config=cfg,
    )


# --------------------------------------------------------------------------- formatting


def _ts(secs: np.ndarray) -> pa.Array:
    """Unix seconds -> Arrow ``timestamp[ns, UTC]``."""
    return pa.array(np.asarray(secs, np.int64) * 1_000_000_000).view(pa.timestamp("ns", tz="UTC"))


def _ip_strings(ip: np.ndarray) -> pa.Array:
    ip = np.asarray(ip, np.int64)
    octets = [_str((ip >> s) & 255) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def _token(p: np.ndarray, modulus: int) -> np.ndarray:
    """A bijection of ``[0, modulus)`` that scatters consecutive ids."""
    return (p * _MUL + 977) % modulus


def _format_identifiers(rng: np.random.Generator, ctr: _Counter, kind: np.ndarray,
                        key: np.ndarray, country: np.ndarray, nat_values: pa.Array,
                        dev_hub_values: pa.Array,
                        pool: ThreadPoolExecutor | None = None) -> tuple[pa.Array, np.ndarray]:
    """Identifier strings: a dictionary of values and each row's index in it.

    Sequential ids go through a random permutation per kind before they become
    strings, so a value never reveals when (or for whom) it was allocated. The
    dictionary holds every allocated id (a few are unused), which avoids sorting
    the rows to find the distinct values.
    """
    gid = np.empty(len(key), np.int32)
    offset = 0
    work: list[tuple[int, np.ndarray, np.ndarray]] = []
    for k in range(6):
        rows = np.flatnonzero(kind == k)
        kk = key[rows]
        K = ctr.next[k]
        hub_strings = nat_values if k == _IP else dev_hub_values if k == _DEV else None
        is_hub = kk >= _HUB
        if k == _EMAIL:
            reg, inv = np.unique(kk, return_inverse=True)
            idx = inv.ravel()
        elif k == _IP:
            derived = ~is_hub & ((kk & 255) != 0)  # "same /24" addresses
            d_uniq = np.unique(kk[derived])
            reg = np.concatenate([np.arange(K, dtype=np.int64) << 8, d_uniq])
            idx = np.where(derived, K + np.searchsorted(d_uniq, kk), kk >> 8)
        else:
            reg = np.arange(K, dtype=np.int64)
            idx = kk.copy()
        if hub_strings is not None:
            idx = np.where(is_hub, len(reg) + (kk - _HUB), idx)
        gid[rows] = offset + idx
        offset += len(reg) + (len(hub_strings) if hub_strings is not None else 0)
        work.append((k, reg, rng.permutation(K)))  # drawn here: the rng order is fixed

    def build(job: tuple[int, np.ndarray, np.ndarray]) -> list[pa.Array]:
        k, reg, perm = job
        if k == _DEV:
            p = perm[reg]
            strings = _join("dev_", _padded(_token(p, 10**12), 12))
        elif k == _IP:
            p = perm[reg >> 8]
            L = len(_IP_FIRST_OCTETS)
            rest = _token(p // L, 1 << 24)
            host = ((rest & 255) + (reg & 255)) & 255
            strings = _ip_strings(_IP_FIRST_OCTETS[p % L] << 24 | (rest >> 8) << 8 | host)
        elif k == _CARD:
            p = perm[reg]
            strings = _join("card_", _padded(_token(p, 10**12), 12))
        elif k == _PHONE:  # phone ids are account indices: the allocating account's country
            p = perm[reg]
            cc = pc.take(pa.array(_CALLING_CODES), pa.array(country[reg]))
            strings = _join("+", cc, _str(10**8 + _token(p, 9 * 10**8)))
        elif k == _EMAIL:
            loc, dom, var = reg >> 8, (reg >> 3) & 31, reg & 7
            p = perm[loc]
            nf, nl = len(_FIRST_NAMES), len(_LAST_NAMES)
            first, last, num = p % nf, (p // nf) % nl, p // (nf * nl)
            # a 4-digit-looking number; injective because _token is a bijection below 10**4
            shown = np.where(num < 10**4, _token(num, 10**4), num)
            strings = _join(pc.take(pa.array(_FIRST_NAMES), pa.array(first)),
                            pc.take(pa.array(_EMAIL_SEPS), pa.array((first + last) % 2)),
                            pc.take(pa.array(_LAST_NAMES), pa.array(last)),
                            _str(shown),
                            pc.take(pa.array(_EMAIL_VARIANTS), pa.array(var)),
                            "@",
                            pc.take(pa.array(_DOMAINS), pa.array(dom)))
        else:
            p = perm[reg]
            strings = _join("addr_", _padded(_token(p, 10**10), 10))
        hub_strings = nat_values if k == _IP else dev_hub_values if k == _DEV else None
        return [strings] if hub_strings is None else [strings, hub_strings]

    built = list(pool.map(build, work)) if pool is not None else [build(j) for j in work]
    parts = [x for group in built for x in group]
    return pa.concat_arrays([x.cast(pa.large_string()) for x in parts]), gid


_TIME_OF_DAY: pa.Array | None = None


def _iso_strings(ts: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Timestamps as ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds) or with fractions if needed."""
    global _TIME_OF_DAY
    ts = ts if isinstance(ts, pa.ChunkedArray) else pa.chunked_array([ts])
    ts = ts.cast(pa.timestamp("ns", tz="UTC"))
    ns = ts.cast(pa.int64())
    whole = ts.null_count == 0 and (len(ts) == 0 or pc.all(pc.equal(
        pc.subtract(ns, pc.multiply(pc.divide(ns, 1_000_000_000), 1_000_000_000)), 0)).as_py())
    if not whole:  # not generated here: slow but exact
        return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")
    if _TIME_OF_DAY is None:
        sod = np.arange(_DAY)
        _TIME_OF_DAY = _join(_padded(sod // 3600, 2), ":", _padded(sod // 60 % 60, 2), ":",
                             _padded(sod % 60, 2), "Z")
    chunks = []
    for chunk in ns.chunks:
        secs = np.floor_divide(chunk.to_numpy(zero_copy_only=False), 1_000_000_000)
        if len(secs) == 0:
            chunks.append(pa.array([], pa.string()))
            continue
        day = np.floor_divide(secs, _DAY)
        d0 = int(day.min())
        days = np.arange(d0, int(day.max()) + 1).astype("datetime64[D]")
        day_str = pa.array(np.char.add(np.datetime_as_string(days, unit="D"), "T"))
        for i in range(0, len(secs), _CHUNK):
            s = secs[i:i + _CHUNK]
            chunks.append(_join(pc.take(day_str, pa.array(np.floor_divide(s, _DAY) - d0)),
                                pc.take(_TIME_OF_DAY, pa.array(s % _DAY))))
    return pa.chunked_array(chunks, pa.string())


def _arrow_table(df: pd.DataFrame, for_csv: bool) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    if for_csv:
        for i, f in enumerate(table.schema):
            if pa.types.is_timestamp(f.type):
                table = table.set_column(i, f.name, _iso_strings(table.column(i)))
        table = table.replace_schema_metadata(None)
    return table


def _csv_gz_member(table: pa.Table, start: int, stop: int, level: int) -> bytes:
    """Rows ``start:stop`` as one gzip member of CSV text (header on the first)."""
    buf = pa.BufferOutputStream()
    pa_csv.write_csv(table.slice(start, stop - start), buf,
                     pa_csv.WriteOptions(include_header=start == 0))
    # mtime=0 and no file name in the header: equal tables give equal bytes
    return gzip.compress(memoryview(buf.getvalue()), compresslevel=level, mtime=0)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _write_file(pool: ThreadPoolExecutor, workers: int, table: pa.Table, final: Path, fmt: str,
                compresslevel: int, mode: int) -> Path:
    """Write one table to a temporary file next to ``final``, then ``os.replace`` it.

    CSV is cut into row slices that the pool encodes and gzips in parallel;
    the slices are written in order as consecutive gzip members (a valid
    gzip file that every reader decompresses as one stream).
    """
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            if fmt == "csv":
                n = table.num_rows
                per_row = max(1, table.nbytes // max(1, n))
                step = max(10_000, _CSV_SLICE_BYTES // per_row)
                starts = list(range(0, max(n, 1), step))
                ahead = 2 * workers + 2  # slices in flight (bounds the memory)
                pending: list = []
                for start in starts:
                    pending.append(pool.submit(_csv_gz_member, table, start,
                                               min(n, start + step), compresslevel))
                    if len(pending) >= ahead:
                        raw.write(pending.pop(0).result())
                for fut in pending:
                    raw.write(fut.result())
            else:
                pq.write_table(table, raw, compression="zstd")
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return final


def write_platform(platform: Platform, out_dir: str | os.PathLike, format: str = "csv", *,
                   compresslevel: int = _GZIP_LEVEL) -> dict[str, Path]:
    """Write a platform's tables to ``out_dir`` (created if missing).

    Parameters
    ----------
    platform : Platform
        From :func:`generate_platform`.
    out_dir : str or path-like
        Target directory.
    format : {"csv", "parquet"}
        ``"csv"`` writes ``accounts.csv.gz``, ``identifiers.csv.gz``,
        ``edges.csv.gz``, ``enforcement.csv.gz`` (timestamps as ISO 8601 with
        ``Z``); ``"parquet"`` writes ``*.parquet`` for the four tables
        (timestamps as ``timestamp[ns, UTC]``). ``truth.csv.gz`` is written in
        both cases.
    compresslevel : int
        gzip level for the CSV files (1 fastest ... 9 smallest).

    Returns
    -------
    dict of str to pathlib.Path
        Table name (``accounts`` ... ``enforcement``, ``truth``) to the file written.

    Notes
    -----
    Each file is written to a temporary name in ``out_dir`` and moved into
    place with :func:`os.replace`, so readers never see half a file. The bytes
    depend on the tables only (gzip headers carry no name and no time), so the
    same seed gives identical files with the same library versions. CSV
    files are encoded and compressed in row slices on all cores; a file is a
    sequence of gzip members, which gzip, Python, pandas and Arrow read as one
    stream. Strings are quoted (some device values contain commas).

    Examples
    --------
    >>> import tempfile
    >>> p = generate_platform(1_000, seed=3)
    >>> paths = write_platform(p, tempfile.mkdtemp(), format="parquet")
    >>> sorted(paths)
    ['accounts', 'edges', 'enforcement', 'identifiers', 'truth']
    """
    fmt = str(format).lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
    if not isinstance(compresslevel, int) or not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be an integer in [0, 9], got {compresslevel!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = ".csv.gz" if fmt == "csv" else ".parquet"
    jobs = [(name, getattr(platform, name), out / (name + ext), fmt) for name in TABLE_NAMES]
    jobs.append(("truth", platform.truth, out / "truth.csv.gz", "csv"))
    written: dict[str, Path] = {}
    workers = max(1, min(4, os.cpu_count() or 1))
    umask = _umask()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, df, path, f in jobs:
            written[name] = _write_file(pool, workers, _arrow_table(df, f == "csv"), path, f,
                                        compresslevel, 0o666 & ~umask)
    return written

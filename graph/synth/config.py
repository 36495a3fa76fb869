"""SynthConfig: every knob of the synthetic platform, checked when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ringfence.graph.synth.vocabulary import DAY

__all__ = ["SynthConfig", "parse_utc"]


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


def parse_utc(name: str, value: Any) -> int:
    """Unix seconds of an ISO 8601 timestamp (naive means UTC); errors name ``SynthConfig.<name>``.

    Examples
    --------
    >>> parse_utc("start", "2024-06-30T00:00:00Z")
    1719705600
    """
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
    recycled_phone_share : float
        Share of ordinary accounts whose phone number was recycled: it belonged
        to an unrelated account created at least ``phone_recycle_gap_days``
        earlier.
    phone_recycle_gap_days : int
        Least time between the two holders of a recycled number.
    second_hand_device_share : float
        Share of ordinary accounts that also use a device bought second-hand
        from an unrelated, older account.
    office_ip_share, office_ip_accounts : float, tuple of int
        Share of all accounts that also use an office or campus IP, and the
        range of unrelated accounts behind one such IP.
    apartment_share, apartment_accounts : float, tuple of int
        Share of ordinary accounts outside households that live in an
        apartment block (one street address), and the range of accounts per block.
    email_variant_share : float
        Share of ordinary accounts whose email is written with capitals or a
        ``+tag`` (normalisation undoes both).
    email_lookalike_share : float
        Share of ordinary accounts whose email differs from an unrelated
        account's only by a dot at a provider where dots count (outlook.com,
        ...): over-eager normalisation merges two people.
    rotator_phone_trace : float
        Share of full rotators' main accounts (whose source wrote its number
        as +E.164) that type the old number in another format (spaces, dashes,
        national form): equal only once normalised.

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
    recycled_phone_share: float = 0.03
    phone_recycle_gap_days: int = 60
    second_hand_device_share: float = 0.02
    office_ip_share: float = 0.05
    office_ip_accounts: tuple[int, int] = (10, 60)
    apartment_share: float = 0.05
    apartment_accounts: tuple[int, int] = (5, 40)
    email_variant_share: float = 0.10
    email_lookalike_share: float = 0.005
    rotator_phone_trace: float = 0.3

    def __post_init__(self) -> None:
        for name in ("extra_accounts", "ring_size", "household_size", "nat_ip_accounts",
                     "shared_device_accounts", "office_ip_accounts", "apartment_accounts"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        t0, t1 = parse_utc("start", self.start), parse_utc("end", self.end)
        if t1 - t0 < 30 * DAY:
            raise ValueError(f"SynthConfig.end must be at least 30 days after start, "
                             f"got start={self.start!r}, end={self.end!r}")
        if t1 - t0 > 50 * 365 * DAY:
            raise ValueError(
                f"SynthConfig.end must be at most 50 years after start, got {self.end!r}")
        for name in ("offender_share", "multi_account_share", "full_rotator_share",
                     "ring_actor_share", "ring_density", "household_share", "hub_max_fraction",
                     "hub_offender_share", "repeat_observation_rate", "offender_ban_rate",
                     "ordinary_violation_rate", "cleared_share", "cleared_near_offender_share",
                     "recycled_phone_share", "second_hand_device_share", "office_ip_share",
                     "apartment_share", "email_variant_share", "email_lookalike_share",
                     "rotator_phone_trace"):
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
        _check_int("phone_recycle_gap_days", self.phone_recycle_gap_days, 0)
        _check_range("office_ip_accounts", self.office_ip_accounts, 2)
        _check_range("apartment_accounts", self.apartment_accounts, 2)
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
        return (pd.Timestamp(parse_utc("start", self.start), unit="s", tz="UTC"),
                pd.Timestamp(parse_utc("end", self.end), unit="s", tz="UTC"))


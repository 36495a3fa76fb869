"""Identifier values as strings: devices, IPs, cards, phones, emails, addresses.

Sequential ids go through a random permutation per kind and a bijective
scramble (:func:`token`) before they become strings, so a value never reveals
when (or for whom) it was allocated.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.graph.synth.identifiers import IdentifierCounter
from ringfence.graph.synth.strings import concat_str, to_str, zero_padded
from ringfence.graph.synth.vocabulary import (CARD, DEV, DOMAINS, EMAIL, EMAIL_VARIANTS, HUB, IP,
                                              PHONE)

__all__ = ["ip_strings", "token", "format_identifiers"]

CALLING_CODES = ("1", "44", "49", "33", "55", "91", "234", "63", "62", "52")  # of COUNTRIES
FIRST_NAMES = (
    "anna", "ben", "carla", "david", "elena", "felix", "grace", "hugo", "ines", "jonas",
    "kira", "liam", "maria", "noah", "olga", "pavel", "quinn", "rosa", "samir", "tara",
    "umar", "vera", "wei", "xena", "yusuf", "zoe", "amit", "bianca", "chen", "dmitri",
    "emma", "fatima", "gabriel", "hana", "ivan", "julia", "kofi", "lucia", "mateo", "nadia")
LAST_NAMES = (
    "smith", "garcia", "mueller", "rossi", "kowalski", "silva", "nguyen", "kim", "okafor",
    "patel", "santos", "novak", "ivanova", "tanaka", "dubois", "jensen", "moreau", "costa",
    "haddad", "lopez", "wagner", "brown", "schmidt", "reyes", "cruz", "walker", "mendes",
    "fischer", "ali", "khan", "park", "chen", "weber", "lima", "adeyemi", "sato", "bauer",
    "romero", "horvat", "berg")
EMAIL_SEPS = (".", "_")
# plausible residential first octets; 100.64.0.0/10 (carrier-grade NAT) is kept for hubs
IP_FIRST_OCTETS = np.array([
    24, 37, 46, 50, 62, 67, 68, 71, 73, 76, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    90, 91, 92, 93, 94, 95, 98, 99, 108, 109, 151, 174, 176, 177, 178, 185, 188, 189, 190,
    201, 203], dtype=np.int64)
MUL = np.int64(2_654_435_761)  # odd, not a multiple of 5: a bijection mod 10**k and 2**k


def ip_strings(ip: np.ndarray) -> pa.Array:
    """IPv4 addresses (as 32-bit integers) in dotted notation.

    Examples
    --------
    >>> ip_strings(np.array([100 << 24 | 64 << 16 | 7])).to_pylist()
    ['100.64.0.7']
    """
    ip = np.asarray(ip, np.int64)
    octets = [to_str((ip >> s) & 255) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def token(p: np.ndarray, modulus: int) -> np.ndarray:
    """A bijection of ``[0, modulus)`` that scatters consecutive ids.

    Examples
    --------
    >>> token(np.arange(4), 10**4).tolist()
    [977, 6738, 2499, 8260]
    """
    return (p * MUL + 977) % modulus


def format_identifiers(rng: np.random.Generator, ctr: IdentifierCounter, kind: np.ndarray,
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
        hub_strings = nat_values if k == IP else dev_hub_values if k == DEV else None
        is_hub = kk >= HUB
        if k == EMAIL:
            reg, inv = np.unique(kk, return_inverse=True)
            idx = inv.ravel()
        elif k == IP:
            derived = ~is_hub & ((kk & 255) != 0)  # "same /24" addresses
            d_uniq = np.unique(kk[derived])
            reg = np.concatenate([np.arange(K, dtype=np.int64) << 8, d_uniq])
            idx = np.where(derived, K + np.searchsorted(d_uniq, kk), kk >> 8)
        else:
            reg = np.arange(K, dtype=np.int64)
            idx = kk.copy()
        if hub_strings is not None:
            idx = np.where(is_hub, len(reg) + (kk - HUB), idx)
        gid[rows] = offset + idx
        offset += len(reg) + (len(hub_strings) if hub_strings is not None else 0)
        work.append((k, reg, rng.permutation(K)))  # drawn here: the rng order is fixed

    def build(job: tuple[int, np.ndarray, np.ndarray]) -> list[pa.Array]:
        k, reg, perm = job
        if k == DEV:
            p = perm[reg]
            strings = concat_str("dev_", zero_padded(token(p, 10**12), 12))
        elif k == IP:
            p = perm[reg >> 8]
            L = len(IP_FIRST_OCTETS)
            rest = token(p // L, 1 << 24)
            host = ((rest & 255) + (reg & 255)) & 255
            strings = ip_strings(IP_FIRST_OCTETS[p % L] << 24 | (rest >> 8) << 8 | host)
        elif k == CARD:
            p = perm[reg]
            strings = concat_str("card_", zero_padded(token(p, 10**12), 12))
        elif k == PHONE:  # phone ids are account indices: the allocating account's country
            p = perm[reg]
            cc = pc.take(pa.array(CALLING_CODES), pa.array(country[reg]))
            strings = concat_str("+", cc, to_str(10**8 + token(p, 9 * 10**8)))
        elif k == EMAIL:
            loc, dom, var = reg >> 8, (reg >> 3) & 31, reg & 7
            p = perm[loc]
            nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
            first, last, num = p % nf, (p // nf) % nl, p // (nf * nl)
            # a 4-digit-looking number; injective because token is a bijection below 10**4
            shown = np.where(num < 10**4, token(num, 10**4), num)
            strings = concat_str(pc.take(pa.array(FIRST_NAMES), pa.array(first)),
                            pc.take(pa.array(EMAIL_SEPS), pa.array((first + last) % 2)),
                            pc.take(pa.array(LAST_NAMES), pa.array(last)),
                            to_str(shown),
                            pc.take(pa.array(EMAIL_VARIANTS), pa.array(var)),
                            "@",
                            pc.take(pa.array(DOMAINS), pa.array(dom)))
        else:
            p = perm[reg]
            strings = concat_str("addr_", zero_padded(token(p, 10**10), 10))
        hub_strings = nat_values if k == IP else dev_hub_values if k == DEV else None
        return [strings] if hub_strings is None else [strings, hub_strings]

    built = list(pool.map(build, work)) if pool is not None else [build(j) for j in work]
    parts = [x for group in built for x in group]
    return pa.concat_arrays([x.cast(pa.large_string()) for x in parts]), gid

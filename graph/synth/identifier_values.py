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
from ringfence.graph.synth.vocabulary import (CAPITALS, CARD, DEV, DOMAINS, DOTTED, EMAIL,
                                              EMAIL_VARIANTS, HUB, IP, PHONE, PHONE_FORMAT_SHIFT)

__all__ = ["ip_strings", "phone_strings", "email_strings", "token", "format_identifiers"]

CALLING_CODES = ("1", "44", "49", "33", "55", "91", "234", "63", "62", "52")  # of COUNTRIES
# the leading digits of a mobile number of each country (eight digits follow), and the trunk
# prefix its national form starts with: numbers of the right length, so that a phone library
# reads every format back to the same +E.164 number
MOBILE_PREFIXES = ("41", "74", "151", "6", "119", "98", "80", "91", "81", "55")
TRUNK_PREFIXES = ("1", "0", "0", "0", "0", "0", "0", "0", "0", "")
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


def phone_strings(country: np.ndarray, number: np.ndarray, fmt: np.ndarray) -> pa.Array:
    """Mobile numbers of each country's length in one of the formats of ``PHONE_FORMATS``.

    ``country`` indexes :data:`CALLING_CODES`, ``number`` (``< 10**8``) gives
    the last eight digits after the country's mobile prefix
    (:data:`MOBILE_PREFIXES`). The national form has the trunk prefix (``1``
    in the NANP, ``0`` elsewhere, none in Mexico) and no country code, so it
    needs the account's country to be read back.

    Examples
    --------
    >>> phone_strings(np.array([2, 2, 2, 2]), np.array([12345678] * 4),
    ...               np.array([0, 1, 2, 3])).to_pylist()
    ['+4915112345678', '+49 1511 2345 678', '+49-1511-2345-678', '0 1511 2345 678']
    """
    country = pa.array(np.asarray(country, np.int64))
    cc = pc.take(pa.array(CALLING_CODES), country)
    digits = concat_str(pc.take(pa.array(MOBILE_PREFIXES), country),
                        zero_padded(np.asarray(number, np.int64), 8))
    parts = [pc.utf8_slice_codeunits(digits, 0, -7), pc.utf8_slice_codeunits(digits, -7, -3),
             pc.utf8_slice_codeunits(digits, -3)]
    trunk = pc.take(pa.array(TRUNK_PREFIXES), country)
    fmt = pa.array(np.asarray(fmt, np.int64))
    e164 = concat_str("+", cc, digits)
    spaced = pc.binary_join_element_wise(concat_str("+", cc), *parts, " ")
    dashed = pc.binary_join_element_wise(concat_str("+", cc), *parts, "-")
    national = pc.utf8_ltrim(pc.binary_join_element_wise(trunk, *parts, " "), characters=" ")
    return pc.case_when(pc.make_struct(pc.equal(fmt, 1), pc.equal(fmt, 2), pc.equal(fmt, 3)),
                        spaced, dashed, national, e164)


def email_strings(first: np.ndarray, sep: np.ndarray, last: np.ndarray, number: np.ndarray,
                  var: np.ndarray, dom: np.ndarray, style: np.ndarray) -> pa.Array:
    """Email addresses ``first<sep>last<number><+tag>@domain`` in one of ``EMAIL_STYLES``.

    Examples
    --------
    >>> one = np.array([0, 0, 0])
    >>> email_strings(one, one, one, np.array([7] * 3), one, one, np.array([0, 1, 2])).to_pylist()
    ['anna.smith7@gmail.com', 'Anna.Smith7@Gmail.com', 'a.nna.smith7@gmail.com']
    """
    def take(names: tuple[str, ...], i: np.ndarray) -> pa.Array:
        return pc.take(pa.array(names), pa.array(np.asarray(i, np.int64)))

    style = pa.array(np.asarray(style, np.int64))
    fst, lst, domain = take(FIRST_NAMES, first), take(LAST_NAMES, last), take(DOMAINS, dom)
    capitals = pc.equal(style, CAPITALS)
    fst = pc.if_else(capitals, pc.utf8_capitalize(fst), fst)
    lst = pc.if_else(capitals, pc.utf8_capitalize(lst), lst)
    domain = pc.if_else(capitals, pc.utf8_capitalize(domain), domain)
    dotted = concat_str(pc.utf8_slice_codeunits(fst, 0, 1), ".", pc.utf8_slice_codeunits(fst, 1))
    fst = pc.if_else(pc.equal(style, DOTTED), dotted, fst)
    return concat_str(fst, take(EMAIL_SEPS, sep), lst, to_str(np.asarray(number, np.int64)),
                      take(EMAIL_VARIANTS, var), "@", domain)


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
        elif k == PHONE:
            derived = (kk >> PHONE_FORMAT_SHIFT) != 0  # numbers written in another format
            d_uniq = np.unique(kk[derived])
            reg = np.concatenate([np.arange(K, dtype=np.int64), d_uniq])
            idx = np.where(derived, K + np.searchsorted(d_uniq, kk), kk)
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
            number, fmt = reg & ((1 << PHONE_FORMAT_SHIFT) - 1), reg >> PHONE_FORMAT_SHIFT
            strings = phone_strings(country[number], token(perm[number], 10**8), fmt)
        elif k == EMAIL:
            loc, style, dom, var = reg >> 10, (reg >> 8) & 3, (reg >> 3) & 31, reg & 7
            p = perm[loc]
            nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
            first, last, num = p % nf, (p // nf) % nl, p // (nf * nl)
            # a 4-digit-looking number; injective because token is a bijection below 10**4
            shown = np.where(num < 10**4, token(num, 10**4), num)
            strings = email_strings(first, (first + last) % 2, last, shown, var, dom, style)
        else:
            p = perm[reg]
            strings = concat_str("addr_", zero_padded(token(p, 10**10), 10))
        hub_strings = nat_values if k == IP else dev_hub_values if k == DEV else None
        return [strings] if hub_strings is None else [strings, hub_strings]

    built = list(pool.map(build, work)) if pool is not None else [build(j) for j in work]
    parts = [x for group in built for x in group]
    return pa.concat_arrays([x.cast(pa.large_string()) for x in parts]), gid

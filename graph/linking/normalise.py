"""Identifier values in one canonical spelling, and their coarser keys for partial agreement.

Two accounts should agree on an email or a phone however the platform happened
to spell it: ``John.Smith+shop@GoogleMail.com`` is ``johnsmith@gmail.com``,
``+44 20 7946 0958`` is ``+442079460958``. Each function works on the DISTINCT
values only (a platform repeats its values many times) and is vectorised with
Arrow's compute kernels; ``phonenumbers`` parses only the phones that are not
already in E.164.

Partial keys: the email's local part (the same person at another provider) and
an IP's network (IPv4 /24, IPv6 /48).
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DOT_BLIND_DOMAINS", "DOMAIN_ALIASES", "normalise_emails", "normalise_phones",
           "ip_networks", "distinct_map", "emails_arrow", "phones_arrow", "networks_arrow",
           "codes"]

#: providers that ignore dots in the local part (they all ignore ``+tags`` too)
DOT_BLIND_DOMAINS = ("gmail.com",)
#: one provider under two names
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_IPV4 = r"^(?P<net>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}$"


def distinct_map(values, func) -> np.ndarray:
    """``func`` applied to each distinct value once, spread back to every row.

    ``func`` takes an object array of distinct strings and returns an array
    of the same length. Cost: one hash factorisation plus ``func`` on the
    distinct values.

    >>> distinct_map(["a", "b", "a"], lambda u: np.char.upper(u.astype(str))).tolist()
    ['A', 'B', 'A']
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    out = np.asarray(func(np.asarray(uniques, dtype=object)), dtype=object)
    return out[codes]


def _lower(arr: pa.Array) -> pa.Array:
    # ASCII's kernel is some thirty times faster than Unicode's, and the same on ASCII text
    if pc.all(pc.string_is_ascii(arr)).as_py() is False:
        return pc.utf8_lower(arr)
    return pc.ascii_lower(arr)


def _where(arr: pa.Array, mask: pa.Array, func) -> pa.Array:
    """``func`` applied only to the values under ``mask`` (a string kernel on all of them
    costs as much as on the few it changes)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return arr
    return pc.replace_with_mask(arr, mask, func(pc.filter(arr, mask)))


def emails_arrow(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """:func:`normalise_emails` on an Arrow string array, as Arrow arrays (no Python objects)."""
    arr = _lower(pc.utf8_trim_whitespace(values.cast(pa.large_string())))
    has_at = pc.match_substring(arr, "@")
    # the last "@" separates the local part from the domain
    at = pa.scalar("@", pa.large_string())
    padded = _where(arr, pc.invert(has_at), lambda x: pc.binary_join_element_wise(x, at, at))
    parts = pc.split_pattern(padded, "@", reverse=True, max_splits=1)
    domain = pc.list_element(parts, 1)
    local = pc.list_element(parts, 0)
    domain = pc.if_else(has_at, domain, pa.scalar(None, pa.large_string()))
    local = pc.if_else(has_at, local, pa.scalar(None, pa.large_string()))
    for alias, canonical in DOMAIN_ALIASES.items():
        domain = _where(domain, pc.equal(domain, alias),
                        lambda x: pa.array(np.full(len(x), canonical, object), pa.large_string()))
    # plus-tags: every provider
    local = _where(local, pc.match_substring(local, "+"),
                   lambda x: pc.replace_substring_regex(x, r"\+.*$", ""))
    blind = pc.is_in(domain, pa.array(DOT_BLIND_DOMAINS, pa.large_string()))
    local = _where(local, blind, lambda x: pc.replace_substring(x, ".", ""))
    full = pc.binary_join_element_wise(local, domain, at)
    return pc.if_else(has_at, full, arr), local


def normalise_emails(values) -> tuple[np.ndarray, np.ndarray]:
    """Canonical emails and their local parts (None where there is no ``@``).

    Lower case; ``googlemail.com`` is ``gmail.com``; a ``+tag`` is dropped
    (providers deliver ``name+tag@`` to ``name@``); dots in the local part
    are dropped where the provider ignores them (:data:`DOT_BLIND_DOMAINS`).

    Cost: linear in the number of distinct values.

    Examples
    --------
    >>> full, local = normalise_emails(["John.Smith+shop@GoogleMail.com", "j.smith+x@yahoo.com",
    ...                                 "not-an-email"])
    >>> full.tolist()
    ['johnsmith@gmail.com', 'j.smith@yahoo.com', 'not-an-email']
    >>> local.tolist()
    ['johnsmith', 'j.smith', None]
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    if not len(uniques):
        e = np.array([], dtype=object)
        return e, e
    full, local = emails_arrow(pa.array(np.asarray(uniques, dtype=object), pa.large_string()))
    return (np.asarray(full.to_pylist(), dtype=object)[codes],
            np.asarray(local.to_pylist(), dtype=object)[codes])


def phones_arrow(values: pa.Array, region: str | None) -> pa.Array:
    """:func:`normalise_phones` on an Arrow string array, as an Arrow array."""
    import phonenumbers  # imported here: only linking needs it

    values = values.cast(pa.large_string())
    # spaces, dashes, dots and brackets are spelling, not digits
    arr = pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"[\s\-\.\(\)/]", "")
    todo = pc.invert(pc.fill_null(pc.match_substring_regex(arr, r"^\+[1-9][0-9]{6,14}$"), True))
    if not pc.any(todo).as_py():
        return arr
    # only values not yet in E.164 need the parser
    raw = pc.filter(values, todo).to_pylist()
    fixed = pc.filter(arr, todo).to_pylist()
    for i, v in enumerate(raw):
        try:
            num = phonenumbers.parse(v, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            fixed[i] = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return pc.replace_with_mask(arr, todo, pa.array(fixed, pa.large_string()))


def normalise_phones(values, region: str | None = None) -> np.ndarray:
    """Phone numbers in E.164 (``+`` country code and number, no spelling).

    Values already in E.164 once spaces, dashes, dots and brackets are
    removed are kept as such; the others are parsed with ``phonenumbers``
    (national numbers need ``region``, e.g. ``"GB"``). A value that cannot be
    parsed keeps its stripped spelling, so it can still agree exactly.

    Cost: linear in the distinct values; ``phonenumbers`` (about 20 us a
    number) runs only on those not already in E.164.

    Examples
    --------
    >>> normalise_phones(["+44 20 7946 0958", "(020) 7946-0958", "0044 20 7946 0958"],
    ...                  region="GB").tolist()
    ['+442079460958', '+442079460958', '+442079460958']
    """
    return distinct_map(values, lambda u: np.asarray(phones_arrow(
        pa.array(u, pa.large_string()), region).to_pylist(), dtype=object) if len(u) else u)


def networks_arrow(values: pa.Array) -> pa.Array:
    """:func:`ip_networks` on an Arrow string array, as an Arrow array (null: no address)."""
    arr = pc.utf8_trim_whitespace(values.cast(pa.large_string()))
    # one regex pass finds the IPv4 addresses and their /24 (null for anything else)
    prefix = pc.struct_field(pc.extract_regex(arr, _IPV4), [0])
    big = (lambda x: pa.scalar(x, pa.large_string()))
    net = pc.binary_join_element_wise(prefix, big(".0/24"), big(""))
    # IPv6 (rare): the parser, only for values with a colon
    v6 = pc.fill_null(pc.match_substring(arr, ":"), False)
    if not pc.any(v6).as_py():
        return net
    out = []
    for v in pc.filter(arr, v6).to_pylist():
        try:
            addr = ipaddress.ip_address(v)
        except ValueError:
            out.append(None)
            continue
        prefix_len = 48 if addr.version == 6 else 24
        out.append(str(ipaddress.ip_network(f"{addr}/{prefix_len}", strict=False)))
    return pc.replace_with_mask(net, v6, pa.array(out, pa.large_string()))


def ip_networks(values) -> np.ndarray:
    """The network of each IP address: IPv4 /24, IPv6 /48; None for non-addresses.

    Cost: linear in the distinct values (IPv6 through :mod:`ipaddress`).

    Examples
    --------
    >>> ip_networks(["81.2.69.160", "2001:db8:85a3::8a2e:370:7334", "router"]).tolist()
    ['81.2.69.0/24', '2001:db8:85a3::/48', None]
    """
    return distinct_map(values, lambda u: np.asarray(networks_arrow(
        pa.array(u, pa.large_string())).to_pylist(), dtype=object) if len(u) else u)


def codes(values: pa.Array) -> np.ndarray:
    """A dense integer per distinct value (Arrow's dictionary encoding); -1 for nulls.

    >>> codes(pa.array(["x", None, "y", "x"])).tolist()
    [0, -1, 1, 0]
    """
    enc = pc.dictionary_encode(values)
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)

"""Masking identifier values: what a reviewer sees instead of a phone number or a card.

Identifier values never appear in clear in ringfence's outputs: they are shown
as the kind's initial and a short keyed hash (HMAC-SHA256) whose key comes from
the ``RINGFENCE_MASK_KEY`` environment variable; without it a random per-run
key is used, and masks then differ between runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import numpy as np

__all__ = ["MASK_ENV", "Masker"]

MASK_ENV = "RINGFENCE_MASK_KEY"


class Masker:
    """Masks identifier values as ``<kind initial>:<4 hex of HMAC-SHA256>``.

    Parameters
    ----------
    key
        The HMAC key. ``None`` reads ``RINGFENCE_MASK_KEY`` from the
        environment, or draws a random key (``persistent`` is then False).

    Examples
    --------
    >>> Masker(b"k").mask("device", "a1b2c3")
    'd:3c52'
    """

    def __init__(self, key: bytes | str | None = None):
        if key is None:
            env = os.environ.get(MASK_ENV)
            self.persistent = bool(env)
            key = env if env else secrets.token_bytes(32)
        else:
            self.persistent = True
        self._key = key.encode() if isinstance(key, str) else key

    def __repr__(self) -> str:  # never show the key
        return f"Masker(persistent={self.persistent})"

    def fingerprint(self) -> str:
        """A short public digest of the key: two runs with equal fingerprints mask alike."""
        return hmac.new(self._key, b"ringfence-mask-fingerprint", hashlib.sha256).hexdigest()[:12]

    def mask(self, kind: str, value: str, digits: int = 4) -> str:
        digest = hmac.digest(self._key, f"{kind}\x1f{value}".encode(), "sha256").hex()
        return f"{kind[:1] or '?'}:{digest[:digits]}"

    def mask_many(self, kinds: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.array([self.mask(str(k), str(v)) for k, v in zip(kinds, values)], dtype=object)

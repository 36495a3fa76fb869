"""Ordinary accounts next to an offender: sharing a hub or a coincidental value with one,
or an edge.

The mask is taken twice: before enforcement of ordinary accounts from the
edges that can happen given the offenders' bans (half of the wrong bans fall
near offenders), and at the end from the edges as kept (``near_offender`` in
the truth table; a share of the cleared reviews).
"""

from __future__ import annotations

import numpy as np

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.hubs import Hubs

__all__ = ["near_offenders"]


def near_offenders(acc: Accounts, hubs: Hubs, src: np.ndarray, dst: np.ndarray,
                   lasting: np.ndarray | None = None,
                   shared: np.ndarray | None = None) -> np.ndarray:
    """Ordinary accounts sharing a hub with an offender or an edge ``src -> dst`` with one.

    ``lasting``, if given, masks the edges that count; ``shared`` marks accounts
    known to share another value with an offender (coincidences).

    Examples
    --------
    >>> from ringfence.graph.synth.accounts import draw_accounts
    >>> from ringfence.graph.synth.config import SynthConfig
    >>> acc = draw_accounts(np.random.default_rng(0), SynthConfig(), 100, 365 * 86_400)
    >>> no_hubs = Hubs(kind=[], size=[], n_offenders=[], members=[])
    >>> near = near_offenders(acc, no_hubs, np.array([0, 50]), np.array([60, 70]))
    >>> np.flatnonzero(near).tolist()
    [60]
    """
    is_off = acc.is_off
    near = hubs.shared_with_offenders(acc.n)
    if shared is not None:
        near |= shared
    touch = is_off[src] != is_off[dst]
    if lasting is not None:
        touch &= lasting
    near[np.where(is_off[src], dst, src)[touch]] = True
    near[:acc.n_off] = False
    return near

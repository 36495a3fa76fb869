"""generate_platform: the steps of a synthetic platform, in the order they draw random numbers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ringfence.graph.synth.accounts import draw_accounts
from ringfence.graph.synth.assemble import assemble
from ringfence.graph.synth.attributes import draw_attributes
from ringfence.graph.synth.coincidences import share_by_coincidence
from ringfence.graph.synth.config import SynthConfig, parse_utc
from ringfence.graph.synth.edges import draw_edges, time_edges
from ringfence.graph.synth.enforcement import (EnforcementLog, clear_reviews, enforce_offenders,
                                               enforce_ordinary)
from ringfence.graph.synth.generated_platform import Platform
from ringfence.graph.synth.hubs import plant_hubs
from ringfence.graph.synth.identifiers import (IdentifierBlocks, IdentifierCounter,
                                               add_extra_identifiers, add_own_identifiers,
                                               add_ring_identifiers, allocate_own_identifiers,
                                               observe_identifiers, reuse_for_evasion)
from ringfence.graph.synth.link_labels import draw_link_decisions
from ringfence.graph.synth.neighbours import near_offenders

__all__ = ["generate_platform", "MAX_ACCOUNTS"]

MAX_ACCOUNTS = 100_000_000  # keeps composite sort keys inside int64


def generate_platform(n_accounts: int = 10_000, seed: int = 0,
                      config: SynthConfig | None = None, *, link_labels: float = 0.0) -> Platform:
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
    link_labels : float
        Share of the true same-actor pairs given a synthetic reviewer's
        decision, with about as many ``different_actors`` decisions on pairs
        that share an identifier (``Platform.link_decisions``, see
        :func:`~ringfence.graph.synth.link_labels.draw_link_decisions`); 0 (the
        default) gives none. The labels never change the other tables.

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
            or not 50 <= n_accounts <= MAX_ACCOUNTS:
        raise ValueError(
            f"n_accounts must be an integer in [50, {MAX_ACCOUNTS:,}], got {n_accounts!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(link_labels, (int, float)) or isinstance(link_labels, bool) \
            or not 0.0 <= link_labels <= 1.0:
        raise ValueError(f"link_labels must be a number in [0, 1], got {link_labels!r}")
    if config is not None and not isinstance(config, SynthConfig):
        raise ValueError(f"config must be a SynthConfig, got {type(config).__name__}")
    cfg = config if config is not None else SynthConfig()
    n = int(n_accounts)
    rng = np.random.default_rng(int(seed))
    T0 = parse_utc("start", cfg.start)
    W = parse_utc("end", cfg.end) - T0

    # The steps below share one random generator: their order is part of the
    # output (the same seed gives the same platform only if it never changes).
    acc = draw_accounts(rng, cfg, n, W)
    log = EnforcementLog()
    off_enf = enforce_offenders(rng, cfg, acc, log)
    end = off_enf.end

    ctr = IdentifierCounter()
    own = allocate_own_identifiers(rng, acc, ctr)
    reuse_for_evasion(rng, cfg, acc, own)
    blocks = IdentifierBlocks(cfg.repeat_observation_rate)
    coincidental = share_by_coincidence(rng, cfg, acc, own, ctr, blocks)
    add_own_identifiers(acc, own, blocks)
    add_extra_identifiers(rng, acc, ctr, blocks)
    add_ring_identifiers(rng, acc, ctr, blocks)
    hubs = plant_hubs(rng, cfg, acc, blocks)

    edges = draw_edges(rng, cfg, acc)
    src_e, dst_e = edges["src_e"], edges["dst_e"]
    # structural neighbours of offenders (edges that can happen given offender ends)
    lasting = (np.minimum(end[src_e], end[dst_e])
               - np.maximum(acc.created[src_e], acc.created[dst_e]) > 600)
    near = near_offenders(acc, hubs, src_e, dst_e, lasting, coincidental)
    del src_e, dst_e, lasting
    wrong, violated = enforce_ordinary(rng, cfg, acc, end, near, off_enf.n_bans, log)
    edges = time_edges(rng, edges, acc.created, end)
    near_final = near_offenders(acc, hubs, edges["src_e"], edges["dst_e"], shared=coincidental)
    clear_reviews(rng, cfg, acc, near_final, wrong, violated, log)
    ids = observe_identifiers(rng, blocks, acc.created, end)
    attrs = draw_attributes(rng, acc.is_off)

    # the row-level arrays travel in a dict that assemble empties, so each is
    # freed as soon as its table is built (keeps the peak memory down)
    rows = {**ids, **edges}
    del ids, edges
    with ThreadPoolExecutor(max_workers=2) as pool:  # Arrow gathers and string building
        platform = assemble(rows, rng=rng, pool=pool, cfg=cfg, seed=int(seed), T0=T0,
                            acc=acc, ctr=ctr, hubs=hubs, country=own.country, log=log,
                            attrs=attrs, hidden=off_enf.hidden, wrong=wrong,
                            near_final=near_final)
    if link_labels:
        platform.link_decisions = draw_link_decisions(
            platform.truth, platform.identifiers, platform.accounts, link_labels, int(seed),
            cfg.window[1])
    return platform

"""From integer arrays to a Platform: public ids, identifier strings, sorted DataFrames.

Account and actor ids are random permutations (drawn here, after everything
else), so an id says nothing about the role or the creation order. Rows are
sorted by time with ties in a scrambled order and exact duplicates dropped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph.synth.accounts import Accounts
from ringfence.graph.synth.arrays import dup_mask, sort_order
from ringfence.graph.synth.attributes import AccountAttributes
from ringfence.graph.synth.config import SynthConfig
from ringfence.graph.synth.enforcement import EnforcementLog
from ringfence.graph.synth.generated_platform import Platform
from ringfence.graph.synth.hubs import Hubs, hub_value_strings, hubs_frame
from ringfence.graph.synth.identifier_values import format_identifiers
from ringfence.graph.synth.identifiers import IdentifierCounter
from ringfence.graph.synth.strings import concat_str, take_chunked, utc_timestamps, zero_padded
from ringfence.graph.synth.vocabulary import (ACTIONS, ACTOR_TYPES, CHANNELS, COUNTRIES,
                                              EDGE_KINDS, IDENTIFIER_KINDS, REASONS, ROLES)

__all__ = ["assemble"]


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(self_destruct=True, split_blocks=True)


def assemble(rows: dict[str, np.ndarray], *, rng: np.random.Generator,
             pool: ThreadPoolExecutor, cfg: SynthConfig, seed: int, T0: int, acc: Accounts,
             ctr: IdentifierCounter, hubs: Hubs, country: np.ndarray, log: EnforcementLog,
             attrs: AccountAttributes, hidden: np.ndarray, wrong: np.ndarray,
             near_final: np.ndarray) -> Platform:
    """Public ids, identifier strings, sorting, and the DataFrames.

    ``rows`` (identifier and edge rows) is emptied on the way, so each row
    array is freed as soon as its table is built. ``T0`` is the window's start
    (Unix seconds).
    """
    n, n_actors = acc.n, acc.n_actors
    width = max(7, len(str(n - 1)))
    acct_num = rng.permutation(n).astype(np.int64)
    acct_str = concat_str("acct_", zero_padded(acct_num, width)).cast(pa.large_string())
    actor_num = rng.permutation(n_actors).astype(np.int64)
    actor_str = concat_str("actor_", zero_padded(actor_num, max(7, len(str(n_actors - 1)))))
    nat_values, dev_hub_values = hub_value_strings(rng, hubs)
    identifiers = _identifiers_frame(rows, rng, pool, ctr, country, nat_values, dev_hub_values,
                                     acct_str, T0)
    edges = _edges_frame(rows, pool, acct_str, T0)
    enf_tbl = _enforcement_table(log, acct_num, acct_str, T0)

    # accounts and truth sorted by account_id
    order = np.empty(n, np.int64)
    order[acct_num] = np.arange(n)
    acc_tbl = pa.table({
        "account_id": take_chunked(acct_str, order),
        "created_at": utc_timestamps(T0 + acc.created[order]),
        "country": take_chunked(pa.array(COUNTRIES), country[order]),
        "signup_channel": take_chunked(pa.array(CHANNELS), attrs.channel[order]),
        "n_logins_30d": pa.array(attrs.logins[order]),
        "avg_session_min": pa.array(attrs.session[order]),
        "payment_volume_30d": pa.array(attrs.volume[order]),
        "n_failed_payments": pa.array(attrs.failed[order]),
        "profile_completeness": pa.array(attrs.complete[order]),
    })
    ring_str = concat_str("ring_", zero_padded(np.arange(max(acc.n_rings, 1)), 4))
    hh_str = concat_str("hh_", zero_padded(np.arange(max(acc.n_households, 1)), 6))
    truth_tbl = pa.table({
        "account_id": take_chunked(acct_str, order),
        "actor_id": take_chunked(actor_str, acc.actor[order]),
        "role": take_chunked(pa.array(ROLES), acc.role[order].astype(np.int64)),
        "is_offender": pa.array(acc.is_off[order]),
        "generation": pa.array(acc.gen[order]),
        "full_rotator": pa.array(acc.rotator[order]),
        "hidden": pa.array(hidden[order]),
        "ring_id": take_chunked(pa.concat_arrays([pa.array([""]), ring_str]), acc.ring[order] + 1),
        "household_id": take_chunked(pa.concat_arrays([pa.array([""]), hh_str]),
                                     acc.household[order] + 1),
        "predecessor_id": take_chunked(
            pa.concat_arrays([pa.array([""], pa.large_string()), acct_str]), acc.pred[order] + 1),
        "actor_type": take_chunked(pa.array(("",) + ACTOR_TYPES), acc.atype[order] + 1),
        "wrong_ban": pa.array(wrong[order]),
        "near_offender": pa.array(near_final[order]),
    })
    hubs_df = hubs_frame(hubs, nat_values, dev_hub_values)
    accounts, truth = _frame(acc_tbl), _frame(truth_tbl)
    enforcement = _frame(enf_tbl)
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


def _identifiers_frame(rows: dict[str, np.ndarray], rng: np.random.Generator,
                       pool: ThreadPoolExecutor, ctr: IdentifierCounter, country: np.ndarray,
                       nat_values: pa.Array, dev_hub_values: pa.Array, acct_str: pa.Array,
                       T0: int) -> pd.DataFrame:
    """The identifiers table, sorted by ``seen_at``, exact duplicates dropped."""
    kind_r, acct_r, seen = rows.pop("kind_r"), rows.pop("acct_r"), rows.pop("seen")
    values_dict, value_gid = format_identifiers(rng, ctr, kind_r, rows.pop("key_r"), country,
                                                nat_values, dev_hub_values, pool)
    order = sort_order(seen)
    dup = dup_mask(seen[order], order, acct_r, kind_r, value_gid)
    order = order[~dup]
    return _frame(pa.table({
        "account_id": take_chunked(acct_str, acct_r[order], pool),
        "kind": take_chunked(pa.array(IDENTIFIER_KINDS), kind_r[order], pool),
        "value": take_chunked(values_dict, value_gid[order], pool),
        "seen_at": utc_timestamps(T0 + seen[order]),
    }))


def _edges_frame(rows: dict[str, np.ndarray], pool: ThreadPoolExecutor, acct_str: pa.Array,
                 T0: int) -> pd.DataFrame:
    """The edges table, sorted by ``at``, exact duplicates dropped."""
    src_e, dst_e, kind_e = rows.pop("src_e"), rows.pop("dst_e"), rows.pop("kind_e")
    weight_e, amt_e, at_e = rows.pop("weight_e"), rows.pop("amt_e"), rows.pop("at_e")
    order = sort_order(at_e)
    dup = dup_mask(at_e[order], order, src_e, dst_e, kind_e, weight_e.view(np.int64),
                   np.nan_to_num(amt_e, nan=-1.0).view(np.int64))
    order = order[~dup]
    return _frame(pa.table({
        "src": take_chunked(acct_str, src_e[order], pool),
        "dst": take_chunked(acct_str, dst_e[order], pool),
        "kind": take_chunked(pa.array(EDGE_KINDS), kind_e[order], pool),
        "weight": pa.array(weight_e[order]),
        "at": utc_timestamps(T0 + at_e[order]),
        "amount": pa.array(amt_e[order], from_pandas=True),
    }))


def _enforcement_table(log: EnforcementLog, acct_num: np.ndarray, acct_str: pa.Array,
                       T0: int) -> pa.Table:
    """The enforcement table, sorted by (at, account, action), exact duplicates dropped."""
    ea, eact, eat, ereason = log.arrays()
    prim_key = (eat << 27) | acct_num[ea]  # acct_num < 2**27
    order = np.lexsort((eact, prim_key))
    dup = dup_mask(eat[order], order, ea, eact, ereason)
    order = order[~dup]
    return pa.table({
        "account_id": take_chunked(acct_str, ea[order]),
        "action": take_chunked(pa.array(ACTIONS), eact[order]),
        "at": utc_timestamps(T0 + eat[order]),
        "reason": take_chunked(pa.array(("",) + REASONS), ereason[order].astype(np.int64) + 1),
    })

"""Identity quality by relationship: which pairs of accounts ended up in one identity.

An identity should hold the accounts of one actor. Pairs of accounts in one
identity are counted by the relationship the truth table gives them: the
same actor (correct), one household, one ring (different actors that
cooperate), or strangers (any other pair). Everything is counted from
contingency tables (the sum of ``C(n_ij, 2)`` over the cells of identity x
group), never by listing pairs, so a million accounts take a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["identity_quality", "format_identity_quality"]


def _pairs_within(*codes: np.ndarray) -> int:
    """Pairs of rows that agree on every code array (rows with a code < 0 count for none)."""
    keep = np.ones(len(codes[0]), bool)
    for c in codes:
        keep &= c >= 0
    if not keep.any():
        return 0
    cells = pd.DataFrame({str(i): c[keep] for i, c in enumerate(codes)}).value_counts().to_numpy()
    return int((cells * (cells - 1) // 2).sum())


def _group_codes(values: pd.Series) -> np.ndarray:
    """Dense codes of a truth column; empty or missing means no group (-1)."""
    text = values.fillna("").astype(str)
    codes = pd.factorize(text)[0]
    return np.where(text.to_numpy() == "", -1, codes)


def identity_quality(identity: np.ndarray | pd.Series, truth: pd.DataFrame,
                     candidate_pairs: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> dict[str, float | int | None]:
    """Pairwise precision, recall and F1 of identities, and who else they merged.

    Parameters
    ----------
    identity : array of int
        Identity id per account, aligned with ``truth``'s rows; -1 for an
        account linked to nobody.
    truth : pandas.DataFrame
        ``actor_id``, and optionally ``household_id`` and ``ring_id`` (empty
        outside a group), one row per account.
    candidate_pairs : (array, array), optional
        Row positions ``(a, b)`` of the pairs of accounts that share an
        identifier value (``AccountGraph.pairs``); with them the stranger
        pairs in one identity are a share of the strangers that share a value.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` of same-actor pairs;
        ``identity_pairs`` (pairs in one identity), ``true_pairs``,
        ``correct_pairs``; for households and rings the pairs of different
        actors in one group (``household_pairs``, ``ring_pairs``), how many of
        them are in one identity (``*_in_identity``) and that share
        (``household_share``, ``ring_share``); ``stranger_pairs_in_identity``
        and, with ``candidate_pairs``, ``stranger_pairs_sharing`` and
        ``stranger_share`` (else None). A share with an empty denominator is None.

    Notes
    -----
    Cost: O(n log n) for n accounts (group counts), plus O(P) for P
    candidate pairs.

    Examples
    --------
    Accounts a1, a2 of actor A; households h (x, y); identity 0 merged a1, a2
    and the household member x; identity 1 holds y and a stranger s.

    >>> truth = pd.DataFrame({"actor_id": ["A", "A", "X", "Y", "S"],
    ...                       "household_id": ["", "", "h", "h", ""]})
    >>> q = identity_quality(np.array([0, 0, 0, 1, 1]), truth)
    >>> q["precision"], q["recall"], q["household_share"], q["stranger_pairs_in_identity"]
    (0.25, 1.0, 0.0, 3)
    """
    identity = np.asarray(identity, np.int64)
    if len(identity) != len(truth):
        raise ValueError(f"identity has {len(identity):,} accounts, truth {len(truth):,}")
    if "actor_id" not in truth.columns:
        raise ValueError("the truth table has no actor_id column")
    actor = _group_codes(truth["actor_id"])
    none = np.full(len(truth), -1, np.int64)
    household = _group_codes(truth["household_id"]) if "household_id" in truth.columns else none
    ring = _group_codes(truth["ring_id"]) if "ring_id" in truth.columns else none

    in_identity = _pairs_within(identity)
    true_pairs = _pairs_within(actor)
    correct = _pairs_within(identity, actor)
    # pairs of one group but of different actors
    hh_pairs = _pairs_within(household) - _pairs_within(household, actor)
    hh_in = _pairs_within(identity, household) - _pairs_within(identity, household, actor)
    ring_pairs = _pairs_within(ring) - _pairs_within(ring, actor)
    ring_in = _pairs_within(identity, ring) - _pairs_within(identity, ring, actor)
    # a household is ordinary accounts and a ring offenders': no pair is in both
    strangers_in = in_identity - correct - hh_in - ring_in

    def share(k: int, total: int | None) -> float | None:
        return k / total if total else None

    precision, recall = share(correct, in_identity), share(correct, true_pairs)
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else
          (0.0 if precision is not None and recall is not None else None))
    out: dict[str, float | int | None] = {
        "precision": precision, "recall": recall, "f1": f1,
        "identity_pairs": in_identity, "true_pairs": true_pairs, "correct_pairs": correct,
        "household_pairs": hh_pairs, "household_pairs_in_identity": hh_in,
        "household_share": share(hh_in, hh_pairs),
        "ring_pairs": ring_pairs, "ring_pairs_in_identity": ring_in,
        "ring_share": share(ring_in, ring_pairs),
        "stranger_pairs_in_identity": strangers_in,
        "stranger_pairs_sharing": None, "stranger_share": None,
    }
    if candidate_pairs is not None:
        a, b = (np.asarray(x, np.int64) for x in candidate_pairs)
        related = actor[a] == actor[b]
        related |= (household[a] >= 0) & (household[a] == household[b])
        related |= (ring[a] >= 0) & (ring[a] == ring[b])
        sharing = int((~related).sum())
        out["stranger_pairs_sharing"] = sharing
        # the strangers in one identity that share a value: the others were chained in
        together = (identity[a] >= 0) & (identity[a] == identity[b]) & ~related
        out["stranger_share"] = share(int(together.sum()), sharing)
    return out


def format_identity_quality(q: dict) -> str:
    """The lines ``ringfence evaluate`` prints for :func:`identity_quality`.

    Examples
    --------
    >>> truth = pd.DataFrame({"actor_id": ["A", "A", "B"]})
    >>> print(format_identity_quality(identity_quality(np.array([0, 0, -1]), truth)))
    identities by pair     precision 1.000, recall 1.000, F1 1.000 (1 pairs in one identity, 1 true)
      households           no pairs
      rings                no pairs
      strangers            0 pairs in one identity
    """
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    def group(name: str, key: str) -> str:
        total = q[f"{key}_pairs"]
        if not total:
            return f"  {name:<20} no pairs"
        return (f"  {name:<20} {q[f'{key}_pairs_in_identity']:,} of {total:,} pairs in one "
                f"identity (share {num(q[f'{key}_share'])})")

    lines = [f"identities by pair     precision {num(q['precision'])}, recall "
             f"{num(q['recall'])}, F1 {num(q['f1'])} ({q['identity_pairs']:,} pairs in one "
             f"identity, {q['true_pairs']:,} true)",
             group("households", "household"), group("rings", "ring")]
    strangers = f"  {'strangers':<20} {q['stranger_pairs_in_identity']:,} pairs in one identity"
    if q["stranger_share"] is not None:
        strangers += (f" (share of the {q['stranger_pairs_sharing']:,} that share a value: "
                      f"{num(q['stranger_share'])})")
    lines.append(strangers)
    return "\n".join(lines)

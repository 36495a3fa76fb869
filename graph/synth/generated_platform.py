"""Platform: a generated platform's tables, ground truth and planted hubs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ringfence.graph.synth.config import SynthConfig

__all__ = ["Platform"]


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
        One row per account, see :mod:`ringfence.graph.synth`.
    hubs : pandas.DataFrame
        The planted hubs: ``kind, value, n_accounts, n_offender_accounts``.
    seed : int or None
        The seed it was generated with.
    link_decisions : pandas.DataFrame or None
        Synthetic reviewer decisions on pairs of accounts (``account_a,
        account_b, decision, decided_at, decided_by, reason``), when asked for.
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
    link_decisions: pd.DataFrame | None = None

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
        >>> from ringfence.graph.synth import generate_platform
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

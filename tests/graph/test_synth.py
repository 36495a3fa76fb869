"""ringfence.graph.synth: the synthetic platforms hold the properties the evaluations rely on.

Every number below is one the generator could get wrong: shares that must
match the configuration, evaders that must (or must not) be linkable, hubs of
the asked size, label noise at the asked rate, byte-identical output per seed.
"""

from __future__ import annotations

import dataclasses
import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.synth import (IDENTIFIER_KINDS, ROLES, STRONG_KINDS, Platform, SynthConfig,
                                   generate_platform, write_platform)

N = 10_000
SEED = 11
START = pd.Timestamp("2024-06-30", tz="UTC")
END = pd.Timestamp("2026-06-30", tz="UTC")


@pytest.fixture(scope="module")
def plat() -> Platform:
    return generate_platform(N, seed=SEED)


@pytest.fixture(scope="module")
def big() -> Platform:
    # more offenders, for the per-evader properties
    return generate_platform(20_000, seed=5, config=SynthConfig(offender_share=0.05))


def _offender(p: Platform) -> pd.Series:
    return p.truth.set_index("account_id")["is_offender"]


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties half)."""
    r = pd.Series(score).rank().to_numpy()
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# --------------------------------------------------------------------------- contract


def test_exact_size_unique_ids_and_references(plat):
    acc = plat.accounts
    assert len(acc) == N and len(plat.truth) == N
    assert acc["account_id"].is_unique and (acc["account_id"].str.len() > 0).all()
    known = set(acc["account_id"])
    assert set(plat.truth["account_id"]) == known
    assert plat.identifiers["account_id"].isin(known).all()
    assert plat.edges["src"].isin(known).all() and plat.edges["dst"].isin(known).all()
    assert plat.enforcement["account_id"].isin(known).all()
    pred = plat.truth.loc[plat.truth["predecessor_id"] != "", "predecessor_id"]
    assert pred.isin(known).all()


def test_tables_follow_the_contract(plat):
    ids, ed, enf = plat.identifiers, plat.edges, plat.enforcement
    assert list(ids.columns) == ["account_id", "kind", "value", "seen_at"]
    assert list(ed.columns) == ["src", "dst", "kind", "weight", "at", "amount"]
    assert list(enf.columns) == ["account_id", "action", "at", "reason"]
    assert set(ids["kind"]) == set(IDENTIFIER_KINDS)
    assert (ids["value"].str.len() > 0).all()
    assert set(ed["kind"]) == {"transfer", "message"}
    assert not (ed["src"] == ed["dst"]).any()
    assert (ed["weight"] > 0).all() and np.isfinite(ed["weight"]).all()
    transfer = (ed["kind"] == "transfer").to_numpy()
    assert (ed.loc[transfer, "amount"] > 0).all() and ed.loc[~transfer, "amount"].isna().all()
    assert set(enf["action"]) == {"ban", "violation", "cleared"}
    assert (enf.loc[enf["action"] == "cleared", "reason"] == "").all()
    assert set(enf.loc[enf["action"] != "cleared", "reason"]) <= {"fraud", "spam", "chargeback",
                                                                  "harassment"}
    for df in (ids, ed, enf):
        assert not df.duplicated().any()
    numeric = ["n_logins_30d", "avg_session_min", "payment_volume_30d", "n_failed_payments",
               "profile_completeness"]
    for c in numeric:
        assert pd.api.types.is_numeric_dtype(plat.accounts[c])
    assert plat.accounts["country"].nunique() > 3 and plat.accounts["signup_channel"].nunique() > 3


def test_timestamps_in_window_and_consistent(plat):
    created = plat.accounts.set_index("account_id")["created_at"]
    for df, col in ((plat.accounts, "created_at"), (plat.identifiers, "seen_at"),
                    (plat.edges, "at"), (plat.enforcement, "at")):
        assert str(df[col].dtype) == "datetime64[ns, UTC]"
        assert df[col].min() >= START and df[col].max() < END
    ids = plat.identifiers
    assert (ids["seen_at"].to_numpy() >= created.reindex(ids["account_id"]).to_numpy()).all()
    ed = plat.edges
    for c in ("src", "dst"):
        assert (ed["at"].to_numpy() > created.reindex(ed[c]).to_numpy()).all()
    # banned accounts do nothing after their ban
    ban = plat.enforcement.loc[plat.enforcement["action"] == "ban"].set_index("account_id")["at"]
    last_seen = ids.groupby("account_id")["seen_at"].max()
    both = last_seen.index.intersection(ban.index)
    assert (last_seen[both] <= ban[both]).all()
    for c in ("src", "dst"):
        e = ed[ed[c].isin(ban.index)]
        assert (e["at"].to_numpy() <= ban.reindex(e[c]).to_numpy()).all()


def test_identifier_ids_do_not_reveal_roles(plat):
    num = plat.truth["account_id"].str.slice(5).astype(int).to_numpy()
    y = plat.truth["is_offender"].to_numpy()
    assert abs(_auc(num, y) - 0.5) < 0.06


def test_repeat_observations_are_modest(plat):
    ids = plat.identifiers
    per_pair = ids.groupby(["account_id", "kind", "value"]).size()
    share = float((per_pair > 1).mean())
    assert 0.03 < share < 0.25
    # repeats are distinct observations, not copies
    assert not ids.duplicated(["account_id", "kind", "value", "seen_at"]).any()


# --------------------------------------------------------------------------- offenders


def test_offender_share_roles_and_generations(plat):
    t = plat.truth
    assert t["is_offender"].sum() == round(0.03 * N)
    assert set(t["role"]) == set(ROLES)
    assert ((t["role"] != "ordinary") == t["is_offender"]).all()
    assert (t.loc[t["role"] == "offender", "generation"] == 0).all()
    assert (t.loc[t["role"] == "evader", "generation"] >= 1).all()
    assert (t.loc[~t["is_offender"], "generation"] == 0).all()
    ev = t["generation"] >= 1
    assert ((t["predecessor_id"] != "") == ev).all()
    assert not t.loc[~ev, "full_rotator"].any()
    # several accounts per actor, some of them at the same time (multi-accounting)
    per_actor = t[t["is_offender"]].groupby("actor_id").size()
    assert per_actor.mean() > 2 and (t["role"] == "multi_account").sum() > 20


def test_evaders_share_a_strong_identifier_unless_full_rotators(big):
    t = big.truth
    created = big.accounts.set_index("account_id")["created_at"]
    ids = big.identifiers
    strong = ids[ids["kind"].isin(STRONG_KINDS)].drop_duplicates(["account_id", "kind", "value"])
    strong = strong.merge(t[["account_id", "actor_id"]], on="account_id")
    strong["created"] = created.reindex(strong["account_id"]).to_numpy()
    pairs = strong.merge(strong, on=["actor_id", "kind", "value"])
    earlier = pairs[(pairs["account_id_x"] != pairs["account_id_y"])
                    & (pairs["created_y"] < pairs["created_x"])]
    linked = set(earlier["account_id_x"])
    ev = t[t["generation"] >= 1]
    rot = ev[ev["full_rotator"]]
    keep = ev[~ev["full_rotator"]]
    assert len(keep) > 200 and len(rot) > 60
    assert keep["account_id"].isin(linked).all()
    assert not rot["account_id"].isin(linked).any()
    # full_rotator_share of the evading actors rotate
    evading = t.loc[t["generation"] >= 1, "actor_id"].unique()
    rot_actors = t.loc[t["full_rotator"], "actor_id"].unique()
    assert len(rot_actors) == round(0.30 * len(evading))


def test_full_rotators_keep_only_weak_traces(big):
    t = big.truth
    ids = big.identifiers.merge(t[["account_id", "actor_id"]], on="account_id")
    created = big.accounts.set_index("account_id")["created_at"]
    weak = ids[ids["kind"].isin(["ip", "email"])].drop_duplicates(["account_id", "kind", "value"])
    ip = weak["kind"] == "ip"
    weak = weak.assign(trace=np.where(ip, weak["value"].str.rsplit(".", n=1).str[0],
                                      weak["value"].str.split("@").str[0].str.split("+").str[0]))
    weak["created"] = created.reindex(weak["account_id"]).to_numpy()
    pairs = weak.merge(weak, on=["actor_id", "kind", "trace"])
    earlier = pairs[(pairs["account_id_x"] != pairs["account_id_y"])
                    & (pairs["created_y"] < pairs["created_x"])]
    rot = t.loc[t["full_rotator"], "account_id"]
    traced = rot.isin(set(earlier["account_id_x"])).mean()
    assert 0.75 < traced < 1.0  # most keep a weak trace, not all (not every evader is findable)


def test_evaders_open_after_the_ban_they_evade(big):
    t, enf = big.truth, big.enforcement
    ban = enf[enf["action"] == "ban"].set_index("account_id")["at"]
    created = big.accounts.set_index("account_id")["created_at"]
    ev = t[t["generation"] >= 1]
    assert ev["predecessor_id"].isin(ban.index).all()
    assert (created.reindex(ev["account_id"]).to_numpy()
            > ban.reindex(ev["predecessor_id"]).to_numpy()).all()
    # bans come after the account's violations
    viol = enf[enf["action"] == "violation"].groupby("account_id")["at"].max()
    both = viol.index.intersection(ban.index)
    assert (ban[both] > viol[both]).all()


def test_rings_transact_densely_and_share_identifiers(big):
    t = big.truth.set_index("account_id")
    ring = t["ring_id"]
    assert ring[ring != ""].nunique() >= 3
    ed = big.edges[big.edges["kind"] == "transfer"]
    rs, rd = ring.reindex(ed["src"]).to_numpy(), ring.reindex(ed["dst"]).to_numpy()
    from_ring = rs != ""
    same_ring = from_ring & (rs == rd)
    assert same_ring.sum() > 0.4 * from_ring.sum()
    who = big.identifiers["account_id"]
    ids = big.identifiers.assign(ring=ring.reindex(who).to_numpy(),
                                 actor=t["actor_id"].reindex(who).to_numpy())
    ids = ids[ids["ring"] != ""]
    shared = ids.groupby(["ring", "kind", "value"])["actor"].nunique()
    rings_sharing = shared[shared >= 2].index.get_level_values("ring").unique()
    assert len(rings_sharing) >= 0.8 * ring[ring != ""].nunique()


def test_households_share_device_ip_and_address(plat):
    t = plat.truth
    hh = t.loc[t["household_id"] != "", ["account_id", "household_id"]]
    assert hh["household_id"].nunique() > 100
    assert hh.groupby("household_id").size().between(2, 4).all()
    ids = plat.identifiers.merge(hh, on="account_id")
    size = hh.groupby("household_id").size()
    for kind in ("device", "ip", "address"):
        users = ids[ids["kind"] == kind].groupby(["household_id", "value"])["account_id"].nunique()
        full = users.groupby(level="household_id").max()
        assert (full.reindex(size.index) == size).all(), kind


# --------------------------------------------------------------------------- hubs


def _hub_table(p: Platform, kind: str) -> pd.DataFrame:
    ids = p.identifiers[p.identifiers["kind"] == kind]
    ids = ids.merge(p.truth[["account_id", "actor_id", "is_offender"]], on="account_id")
    return ids.drop_duplicates(["value", "account_id"]).groupby("value").agg(
        accounts=("account_id", "size"), actors=("actor_id", "nunique"),
        offenders=("is_offender", "sum"))


def test_hubs_at_the_asked_sizes():
    cfg = SynthConfig(n_nat_ips=4, nat_ip_accounts=(300, 600), n_shared_devices=3,
                      shared_device_accounts=(60, 120))
    p = generate_platform(20_000, seed=2, config=cfg)
    ip = _hub_table(p, "ip")
    nat = ip[ip["accounts"] >= 300]
    assert len(nat) == 4 and (nat["accounts"] <= 600).all()
    assert (nat["actors"] >= 0.95 * nat["accounts"]).all()  # unrelated accounts
    assert (nat["offenders"] >= 1).all() and (nat["offenders"] < 0.2 * nat["accounts"]).all()
    assert ip.loc[ip["accounts"] < 300, "accounts"].max() < 100  # nothing else comes close
    dev = _hub_table(p, "device")
    shared = dev[dev["accounts"] >= 60]
    assert len(shared) == 3 and (shared["accounts"] <= 120).all()
    assert (shared["actors"] >= 0.95 * shared["accounts"]).all()
    assert (shared["offenders"] >= 1).all() and (shared["offenders"] < shared["accounts"]).all()
    assert sorted(p.hubs["n_accounts"]) == sorted(list(nat["accounts"]) + list(shared["accounts"]))


def test_default_hubs_scale_with_the_platform(plat):
    hubs = plat.hubs
    assert (hubs["kind"] == "ip").sum() == 3 and (hubs["kind"] == "device").sum() == 3
    ip = hubs[hubs["kind"] == "ip"]
    assert ip["n_accounts"].between(200, 0.05 * N).all()  # capped at hub_max_fraction
    assert (hubs["n_offender_accounts"] >= 1).all()
    p = generate_platform(200_000 // 4, seed=1, config=SynthConfig(offender_share=0.02))
    assert (p.hubs["kind"] == "ip").sum() == 3  # ceil(4 * 50k / 100k) = 2 -> at least 3


# --------------------------------------------------------------------------- enforcement


def test_hidden_share_is_exact(plat, big):
    for p, share in ((plat, 0.4), (big, 0.4)):
        t, enf = p.truth, p.enforcement
        off = t[t["is_offender"]]
        recorded = set(enf.loc[enf["action"] != "cleared", "account_id"])
        no_record = ~off["account_id"].isin(recorded)
        assert (no_record.to_numpy() == off["hidden"].to_numpy()).all()
        assert abs(no_record.mean() - share) <= 0.5 / len(off) + 1e-12
        assert not t.loc[~t["is_offender"], "hidden"].any()
    # hidden accounts are mostly the newest
    created = plat.accounts.set_index("account_id")["created_at"]
    off = plat.truth[plat.truth["is_offender"]]
    hid = created.reindex(off.loc[off["hidden"], "account_id"])
    seen = created.reindex(off.loc[~off["hidden"], "account_id"])
    assert hid.median() > seen.median()
    p = generate_platform(N, seed=3, config=SynthConfig(hidden_share=0.2))
    off = p.truth[p.truth["is_offender"]]
    assert abs(off["hidden"].mean() - 0.2) <= 0.5 / len(off) + 1e-12


def test_offender_accounts_carry_violations(plat):
    t, enf = plat.truth, plat.enforcement
    viol = enf[enf["action"] == "violation"].groupby("account_id").size()
    off = t.loc[t["is_offender"] & ~t["hidden"], "account_id"]
    ordinary = t.loc[~t["is_offender"], "account_id"]
    assert off.isin(viol.index).all()
    assert viol.reindex(off).mean() > 1.8
    assert ordinary.isin(viol.index).mean() < 0.02


@pytest.mark.parametrize("rate", [0.02, 0.1])
def test_wrong_ban_rate(plat, rate):
    p = plat if rate == 0.02 else generate_platform(
        N, seed=4, config=SynthConfig(wrong_ban_rate=rate))
    enf, off = p.enforcement, _offender(p)
    bans = enf.loc[enf["action"] == "ban", "account_id"]
    assert bans.is_unique
    wrong = ~off.reindex(bans).to_numpy()
    assert abs(wrong.mean() - rate) <= 0.5 / len(bans) + 1e-12
    assert set(bans[wrong]) == set(p.truth.loc[p.truth["wrong_ban"], "account_id"])


def test_cleared_are_ordinary_and_some_neighbour_offenders(plat):
    t, enf, off = plat.truth, plat.enforcement, _offender(plat)
    cleared = enf.loc[enf["action"] == "cleared", "account_id"]
    n_ord = int((~t["is_offender"]).sum())
    assert len(cleared) == round(0.02 * n_ord) and cleared.is_unique
    assert not off.reindex(cleared).any()
    assert not cleared.isin(enf.loc[enf["action"] != "cleared", "account_id"]).any()
    # neighbours, from the data: an identifier value or an edge shared with an offender
    ids = plat.identifiers
    by_offender = off.reindex(ids["account_id"]).to_numpy()
    off_values = ids.loc[by_offender, ["kind", "value"]].drop_duplicates()
    near_ids = set(ids.merge(off_values, on=["kind", "value"])["account_id"])
    ed = plat.edges
    s_off, d_off = off.reindex(ed["src"]).to_numpy(), off.reindex(ed["dst"]).to_numpy()
    near_edges = set(ed.loc[s_off, "dst"]) | set(ed.loc[d_off, "src"])
    near = cleared.isin(near_ids | near_edges)
    assert near.mean() >= 0.3
    assert (~near).sum() > 0
    assert near.sum() <= t.set_index("account_id")["near_offender"].reindex(cleared).sum()


def test_small_platforms_work():
    p = generate_platform(500, seed=0)
    s = p.summary()
    assert s["n_accounts"] == 500 and s["n_offender_accounts"] == 15
    assert s["n_cleared"] == 30  # min_cleared
    q = generate_platform(60, seed=0, config=SynthConfig(offender_share=0.0))
    assert len(q.accounts) == 60 and not q.truth["is_offender"].any()
    assert (q.enforcement["action"] != "ban").all()


def test_attributes_shift_offenders_modestly(big):
    acc = big.accounts.merge(big.truth[["account_id", "is_offender"]], on="account_id")
    y = acc["is_offender"].to_numpy()
    aucs = {c: _auc(acc[c].to_numpy(), y) for c in
            ("n_logins_30d", "avg_session_min", "payment_volume_30d", "n_failed_payments",
             "profile_completeness")}
    gaps = np.abs(np.array(list(aucs.values())) - 0.5)
    assert gaps.max() < 0.2, aucs  # overlapping distributions
    assert (gaps > 0.04).sum() >= 3, aucs  # but there is something to learn


# --------------------------------------------------------------------------- writing


def _read_all(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(d.iterdir())}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_same_bytes(tmp_path, fmt):
    a, b, c = (generate_platform(3_000, seed=s) for s in (7, 7, 8))
    write_platform(a, tmp_path / "a", format=fmt)
    write_platform(b, tmp_path / "b", format=fmt)
    write_platform(c, tmp_path / "c", format=fmt)
    fa, fb, fc = (_read_all(tmp_path / x) for x in "abc")
    ext = ".csv.gz" if fmt == "csv" else ".parquet"
    assert sorted(fa) == sorted([t + ext for t in ("accounts", "identifiers", "edges",
                                                   "enforcement")] + ["truth.csv.gz"])
    assert fa == fb
    assert all(fa[k] != fc[k] for k in fa)


def test_written_csv_reads_back(tmp_path, plat):
    paths = write_platform(plat, tmp_path / "new" / "dir")  # created if missing
    assert not [f for f in (tmp_path / "new" / "dir").iterdir() if f.name.endswith(".tmp")]
    probe = tmp_path / "probe"
    probe.touch()
    assert paths["edges"].stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    with gzip.open(paths["identifiers"], "rt") as f:
        head = [next(f) for _ in range(2)]
    assert head[0].strip().replace('"', "") == "account_id,kind,value,seen_at"
    assert head[1].strip().endswith('Z"') and "T" in head[1].split(",")[-1]
    for name in ("accounts", "identifiers", "edges", "enforcement", "truth"):
        back = pd.read_csv(paths[name])
        assert len(back) == len(getattr(plat, name)), name
    back = pd.read_csv(paths["edges"])
    at = pd.to_datetime(back["at"], utc=True, format="ISO8601")
    assert (at.to_numpy() == plat.edges["at"].to_numpy()).all()
    assert np.allclose(back["amount"], plat.edges["amount"], equal_nan=True)


def test_written_parquet_has_utc_timestamps(tmp_path, plat):
    import pyarrow.parquet as pq
    paths = write_platform(plat, tmp_path, format="parquet")
    assert paths["truth"].name == "truth.csv.gz"
    schema = pq.read_schema(paths["identifiers"])
    assert str(schema.field("seen_at").type).startswith("timestamp[") and \
        schema.field("seen_at").type.tz == "UTC"
    back = pd.read_parquet(paths["enforcement"])
    pd.testing.assert_frame_equal(back, plat.enforcement, check_dtype=False)


def test_output_passes_the_input_contract(tmp_path):
    from ringfence.graph.tables import InputWarning, load_tables
    p = generate_platform(2_000, seed=9)
    paths = write_platform(p, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)  # no duplicates, no self-loops to drop
        t = load_tables(paths["accounts"], paths["identifiers"], paths["edges"],
                        paths["enforcement"])
    assert len(t.identifiers) == len(p.identifiers) and len(t.edges) == len(p.edges)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("field, value", [
    ("hidden_share", 1.0),
    ("hidden_share", -0.1),
    ("wrong_ban_rate", 0.7),
    ("offender_share", 2.0),
    ("full_rotator_share", float("nan")),
    ("ring_size", (5, 2)),
    ("household_size", (1, 3)),
    ("nat_ip_accounts", (0, 10)),
    ("extra_accounts", (1,)),
    ("max_generations", 0),
    ("min_cleared", -3),
    ("n_nat_ips", -1),
    ("mean_evasions", "two"),
    ("start", "not a date"),
    ("end", "2024-07-01"),
])
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"SynthConfig\.{field}\b"):
        SynthConfig(**{field: value})


def test_invalid_arguments_name_the_argument(tmp_path, plat):
    with pytest.raises(ValueError, match="n_accounts"):
        generate_platform(10)
    with pytest.raises(ValueError, match="seed"):
        generate_platform(1_000, seed=-1)
    with pytest.raises(ValueError, match="hidden_share"):  # more than can stay unbanned
        generate_platform(1_000, config=SynthConfig(hidden_share=0.95, mean_evasions=4))
    with pytest.raises(ValueError, match="format"):
        write_platform(plat, tmp_path, format="xlsx")
    assert dataclasses.replace(SynthConfig(), ring_size=[2, 3]).ring_size == (2, 3)


def test_summary_counts(plat):
    s = plat.summary()
    assert s["n_accounts"] == N and s["n_offender_accounts"] == round(0.03 * N)
    assert s["n_identifier_rows"] == len(plat.identifiers) and s["n_edges"] == len(plat.edges)
    assert s["hidden_share"] == pytest.approx(0.4, abs=0.01)
    assert s["n_wrong_bans"] == int(plat.truth["wrong_ban"].sum())
    assert s["n_nat_ips"] == 3 and s["largest_hub_accounts"] >= 200

"""graph/synth coincidences, weak traces and link labels: the hard cases of identity linking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph.synth import SynthConfig, generate_platform, write_platform
from ringfence.graph.tables import load_tables

N = 10_000
SEED = 11


@pytest.fixture(scope="module")
def plat():
    return generate_platform(N, seed=SEED, link_labels=0.1)


def _stranger_values(p, kind: str, most: int) -> pd.Series:
    """Accounts per value of ``kind`` held by 2..most accounts that are pairwise strangers:
    different actors, no two of one household or one ring."""
    ids = p.identifiers[p.identifiers["kind"] == kind].drop_duplicates(["value", "account_id"])
    h = ids.merge(p.truth[["account_id", "actor_id", "household_id", "ring_id"]])
    accounts = h.groupby("value").size()
    ok = accounts.between(2, most)
    ok &= h.drop_duplicates(["value", "actor_id"]).groupby("value").size() == accounts
    for group in ("household_id", "ring_id"):
        member = h[h[group] != ""]
        n_in = member.groupby("value").size()
        n_groups = member.drop_duplicates(["value", group]).groupby("value").size()
        ok &= (n_in == n_groups).reindex(accounts.index, fill_value=True)
    return accounts[ok]


def test_strangers_share_phones_devices_ips_and_addresses(plat):
    n_ord = int((~plat.truth["is_offender"]).sum())
    # recycled phones: 3 % of ordinary accounts, each sharing with one older stranger
    phones = _stranger_values(plat, "phone", 10)
    assert 0.6 * 0.03 * n_ord < len(phones) <= 0.03 * n_ord
    # second-hand devices: 2 % of ordinary accounts
    devices = _stranger_values(plat, "device", 10)
    assert 0.6 * 0.02 * n_ord < len(devices) <= 0.02 * n_ord + 20
    # office IPs: 5 % of all accounts in groups of 10..60 unrelated people
    offices = _stranger_values(plat, "ip", 60)
    offices = offices[offices >= 10]
    assert 0.8 * 0.05 * N <= offices.sum() <= round(0.05 * N)
    # apartment blocks: 5 % of the ordinary accounts outside households, 5..40 per address
    blocks = _stranger_values(plat, "address", 40)
    blocks = blocks[blocks >= 5]
    alone = int(((plat.truth["household_id"] == "") & ~plat.truth["is_offender"]).sum())
    assert 0.8 * 0.05 * alone <= blocks.sum() <= round(0.05 * alone)


def test_coincidences_are_in_no_truth_group():
    base = SynthConfig(recycled_phone_share=0, second_hand_device_share=0, office_ip_share=0,
                       apartment_share=0, email_variant_share=0, email_lookalike_share=0)
    with_c = generate_platform(5_000, seed=3)
    without = generate_platform(5_000, seed=3, config=base)
    # the coincidences draw after the people: the groups are the same (ids are drawn last)
    for col in ("actor_id", "household_id", "ring_id", "role"):
        assert sorted(with_c.truth[col].value_counts()) == \
            sorted(without.truth[col].value_counts())
    # phones and (non-hub) devices shared by strangers come from the coincidences alone
    for kind, made in (("phone", 0.03), ("device", 0.02)):
        assert len(_stranger_values(without, kind, 10)) == 0
        assert len(_stranger_values(with_c, kind, 10)) > 0.5 * made * 5_000


def test_phone_formats_normalise_to_the_same_number(plat):
    phonenumbers = pytest.importorskip("phonenumbers")
    ph = plat.identifiers[plat.identifiers["kind"] == "phone"].drop_duplicates("value")
    country = plat.accounts.set_index("account_id")["country"].reindex(ph["account_id"])
    retyped = ~ph["value"].str.fullmatch(r"\+\d+").to_numpy()
    assert retyped.sum() >= 5
    e164 = set(ph.loc[~retyped, "value"])
    back = [phonenumbers.format_number(phonenumbers.parse(v, c),
                                       phonenumbers.PhoneNumberFormat.E164)
            for v, c in zip(ph.loc[retyped, "value"], country[retyped])]
    assert all(b in e164 for b in back)  # every retyped number is an old one, once normalised


def test_rotators_keep_normalisable_traces_and_ordinary_users_vary_their_emails(plat):
    t = plat.truth
    em = plat.identifiers[plat.identifiers["kind"] == "email"].drop_duplicates(
        ["account_id", "value"]).merge(t[["account_id", "actor_id", "full_rotator"]])
    ordinary = ~em["account_id"].isin(t.loc[t["is_offender"], "account_id"])
    capitals = em["value"].str.contains("[A-Z]")
    tagged = em["value"].str.contains(r"\+")
    share = (capitals | tagged)[ordinary].mean()
    assert 0.07 < share < 0.15
    # gmail ignores dots: a rotator's dotted gmail address is an earlier account's mailbox
    local = em["value"].str.lower().str.split("@").str[0].str.split("+").str[0]
    dom = em["value"].str.lower().str.split("@").str[1]
    gmail_box = local.str.replace(".", "", regex=False) + "@" + dom
    dotted = em["full_rotator"] & (dom == "gmail.com") & em["value"].str.match(r"^.\.")
    assert dotted.sum() >= 3
    same_actor_box = em.assign(box=gmail_box).groupby(["actor_id", "box"])["account_id"].nunique()
    boxes = em.loc[dotted].assign(box=gmail_box[dotted])
    assert (same_actor_box.reindex(pd.MultiIndex.from_frame(boxes[["actor_id", "box"]]))
            >= 2).all()
    # lookalikes: a dot more at a provider where dots count is another person's mailbox
    box = local + "@" + dom
    nodots = local.str.replace(".", "", regex=False) + "@" + dom
    look = em[(dom != "gmail.com") & ordinary].assign(nodots=nodots, box=box)
    per = look.groupby("nodots").agg(boxes=("box", "nunique"), actors=("actor_id", "nunique"))
    assert ((per["boxes"] >= 2) & (per["actors"] >= 2)).sum() >= 0.5 * 0.005 * N


def test_link_labels(plat, tmp_path):
    ld, t = plat.link_decisions, plat.truth
    actor = t.set_index("account_id")["actor_id"]
    same = actor.reindex(ld["account_a"]).to_numpy() == actor.reindex(ld["account_b"]).to_numpy()
    assert ((ld["decision"] == "same_actor").to_numpy() == same).all()
    n_true = int((t.groupby("actor_id").size().pipe(lambda s: s * (s - 1) // 2)).sum())
    assert (ld["decision"] == "same_actor").sum() == round(0.1 * n_true)
    assert (ld["decision"] == "different_actors").sum() == (ld["decision"] == "same_actor").sum()
    assert (ld["account_a"] < ld["account_b"]).all()
    assert not ld.duplicated(["account_a", "account_b"]).any()
    created = plat.accounts.set_index("account_id")["created_at"]
    assert (ld["decided_at"].to_numpy() >= created.reindex(ld["account_a"]).to_numpy()).all()
    assert (ld["decided_at"].to_numpy() >= created.reindex(ld["account_b"]).to_numpy()).all()
    assert (ld["decided_by"] == "synthetic reviewer").all()
    # the labels never change the platform
    bare = generate_platform(N, seed=SEED)
    assert bare.link_decisions is None and bare.identifiers.equals(plat.identifiers)
    # written and read back through the input contract
    paths = write_platform(plat, tmp_path)
    assert paths["link_decisions"].name == "link_decisions.csv.gz"
    tables = load_tables(paths["accounts"], link_decisions=paths["link_decisions"])
    assert len(tables.link_decisions) == len(ld)


def test_different_actors_decisions_are_pairs_the_linker_shows(plat):
    """Negatives come from the pairs a reviewer is shown: different actors sharing a value
    that no kind's default share limit makes a hub; households, rings and strangers all
    appear among them."""
    from ringfence.graph.config import GraphConfig

    config = GraphConfig()
    ids = plat.identifiers.drop_duplicates(["kind", "value", "account_id"])
    users = ids.groupby(["kind", "value"])["account_id"].transform("size")
    shown = ids[users.to_numpy() <= ids["kind"].map(config.share_limit).to_numpy()]
    by_account = shown.groupby("account_id")[["kind", "value"]].apply(
        lambda x: set(zip(x["kind"], x["value"])))
    neg = plat.link_decisions[plat.link_decisions["decision"] == "different_actors"]
    assert len(neg) > 50
    shares = [bool(by_account.get(a, set()) & by_account.get(b, set()))
              for a, b in zip(neg["account_a"], neg["account_b"])]
    assert all(shares)
    t = plat.truth.set_index("account_id")
    rel = []
    for a, b in zip(neg["account_a"], neg["account_b"]):
        if t.at[a, "household_id"] and t.at[a, "household_id"] == t.at[b, "household_id"]:
            rel.append("household")
        elif t.at[a, "ring_id"] and t.at[a, "ring_id"] == t.at[b, "ring_id"]:
            rel.append("ring")
        else:
            rel.append("stranger")
    assert {"household", "stranger"} <= set(rel)

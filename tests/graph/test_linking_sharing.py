"""The ``sharing`` comparison: one person's values against values several people use (#13)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_tables as tables

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking import IdentityLinker
from ringfence.graph.linking.mixing import SHARING, SHARING_LEVELS, sharing_comparison
from ringfence.graph.params import ConfigError

# o1-o3: one person's three accounts (one email chain) on card c1;
# r1-r3: three people (three emails) on a ring's card c2;
# p1-p2: two people on card c3, used by nobody else
ROWS = [("o1", "card", "c1"), ("o2", "card", "c1"), ("o3", "card", "c1"),
        ("o1", "email", "own@x.com"), ("o2", "email", "own@x.com"),
        ("o2", "phone", "+15550100"), ("o3", "phone", "+15550100"),
        ("r1", "card", "c2"), ("r2", "card", "c2"), ("r3", "card", "c2"),
        ("r1", "email", "a@x.com"), ("r2", "email", "b@y.com"), ("r3", "email", "c@z.com"),
        ("p1", "card", "c3"), ("p2", "card", "c3"),
        ("p1", "email", "d@x.com"), ("p2", "email", "e@y.com")]
ACCOUNTS = ["o1", "o2", "o3", "r1", "r2", "r3", "p1", "p2"]


def _levels(several_above: float = 0.5) -> dict[tuple[str, str], str]:
    g = build_graph(tables(ACCOUNTS, ROWS))
    linker = IdentityLinker({"sharing_several_above": None}).fit(g)
    compared = linker.compared_
    out, groups = sharing_comparison(g, compared, several_above)
    assert out.names[-1] == SHARING and out.level_names[-1] == SHARING_LEVELS
    assert np.array_equal(out.levels[:, :-1], compared.levels)  # the others unchanged
    on = IdentityLinker({"sharing_several_above": several_above}).fit(g)
    assert np.array_equal(on.compared_.levels, out.levels)  # what the linker compares
    # o1, o2 and o3 are one personal group (email, then phone); the others each their own
    assert len({groups[g.nodes(np.array([a]))[0]] for a in ("o1", "o2", "o3")}) == 1
    ids = g.account_ids
    return {(ids[a], ids[b]): SHARING_LEVELS[lv]
            for a, b, lv in zip(out.a, out.b, out.levels[:, -1])}


def test_one_persons_card_a_rings_card_and_a_card_of_two():
    levels = _levels()
    assert levels[("o1", "o3")] == "one person"  # different phones and emails, one chain
    assert levels[("r1", "r2")] == levels[("r2", "r3")] == "several people"
    # two users: their own emails say whether they are one person, not counted twice
    assert levels[("p1", "p2")] == "null"


def test_the_cut_decides_how_mixed_is_several_people():
    # a value with 3 users and 2 groups has mixing 0.5: "one person" at 0.5, "several" below
    rows = ROWS[:3] + [("o1", "email", "own@x.com"), ("o2", "email", "own@x.com"),
                       ("o3", "email", "other@y.com")]
    g = build_graph(tables(["o1", "o2", "o3"], rows))
    at_half = IdentityLinker({"sharing_several_above": 0.5}).fit(g).compared_
    below = IdentityLinker({"sharing_several_above": 0.4}).fit(g).compared_
    assert set(at_half.levels[:, -1].tolist()) == {2}
    assert set(below.levels[:, -1].tolist()) == {1}


def test_the_linker_reports_it_and_can_go_without_it():
    g = build_graph(tables(ACCOUNTS, ROWS))
    on = IdentityLinker().fit(g)
    assert SHARING in on.comparisons_.names
    assert "bf_sharing" in on.predict().columns
    table = on.weights_table()
    assert set(table.loc[table["comparison"] == SHARING, "level"]) == set(SHARING_LEVELS)
    off = IdentityLinker({"sharing_several_above": None}).fit(g)
    assert SHARING not in off.comparisons_.names
    assert "bf_sharing" not in off.predict().columns


@pytest.mark.parametrize("bad", [1.0, -0.1, "half", True])
def test_a_bad_cut_is_refused(bad):
    with pytest.raises(ConfigError, match="sharing_several_above"):
        GraphConfig(linking={"sharing_several_above": bad})

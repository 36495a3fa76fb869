"""Investigator commands on a run folder (show, neighbours, rings) and reports on a run whose
inputs changed since: they work from what the run kept, and say which inputs changed."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import networkx as nx
import pandas as pd
import pytest

from ringfence.graph.synth import generate_platform, write_platform
from ringfence.jobs.cli import main
from ringfence.jobs.runs import read_run

TABLES = ("accounts", "identifiers", "edges", "enforcement")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A platform written to files and flagged from the command line (propagation: quick)."""
    base = tmp_path_factory.mktemp("investigate")
    p = generate_platform(n_accounts=3000, seed=7)
    write_platform(p, base / "platform", format="csv")
    args = ["flag", *[x for t in TABLES for x in (f"--{t}", str(base / "platform" /
                                                                f"{t}.csv.gz"))],
            "--no-model", "--review-capacity", "30", "--quiet", "--out", str(base / "flags")]
    assert main(args) == 0
    return base, p


@pytest.fixture()
def run_copy(made, tmp_path):
    """A copy of the run and of its inputs, safe to change."""
    base, p = made
    shutil.copytree(base / "platform", tmp_path / "platform")
    shutil.copytree(base / "flags", tmp_path / "flags")
    record = json.loads((tmp_path / "flags" / "run.json").read_text())
    for name, info in record["inputs"].items():
        info["path"] = info["source"] = str(tmp_path / "platform" / f"{name}.csv.gz")
    (tmp_path / "flags" / "run.json").write_text(json.dumps(record))
    return tmp_path / "flags", tmp_path / "platform"


def top(run_dir, n=1):
    s = read_run(run_dir).table("scores")
    return s[s["flagged"]].sort_values("rank")["account_id"].astype(str).tolist()[:n]


def change_in_place(platform_dir, name="enforcement"):
    path = platform_dir / f"{name}.csv.gz"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([df, df.tail(1).assign(action="violation")]).to_csv(path, index=False)
    return path


def test_the_run_keeps_the_graph_around_its_flags(made):
    base, p = made
    run = json.loads((base / "flags" / "run.json").read_text())
    kept = run["subgraph"]
    assert kept["flagged"] == 30 and kept["hops"] == 2
    assert 30 < kept["accounts"] < 3000 and kept["bytes"] > 0
    files = kept["files"]
    assert all((base / "flags" / f).is_file() for f in files.values())
    ids = pd.read_parquet(base / "flags" / files["identifiers"])
    assert not set(ids["value"].astype(str)) & set(p.identifiers["value"].astype(str))


def test_report_after_an_input_changed_in_place(run_copy, tmp_path, capsys):
    run_dir, platform_dir = run_copy
    account = top(run_dir)[0]
    change_in_place(platform_dir)
    out = tmp_path / "case.html"
    assert main(["report", account, "--run", str(run_dir), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "enforcement: sha256 differs" in said and "enforcement.csv.gz" in said
    assert "accounts:" not in said                       # only the changed input is named
    page = out.read_text(encoding="utf-8")
    assert 'id="changed-inputs"' in page and "enforcement (sha256 differs" in page
    assert "No picture" not in page                      # drawn from the kept graph
    assert "masking key differs" not in page             # with the run's own masks
    assert "graph kept by the run" in page
    # the reasons are the run's own
    reasons = read_run(run_dir).table("scores").set_index("account_id").loc[account, "reasons"]
    assert reasons.split("; ")[0].split(" (used by")[0].replace("&", "&amp;") in page
    # show and rings read only the run's tables: they do not care
    assert main(["show", account, "--run", str(run_dir)]) == 0
    assert main(["rings", "--run", str(run_dir), "--top", "3"]) == 0


@pytest.mark.slow  # rebuilds the graph from the inputs and draws it
def test_report_on_an_unchanged_run_has_no_banner(made, tmp_path):
    base, _ = made
    out = tmp_path / "case.html"
    assert main(["report", top(base / "flags")[0], "--run", str(base / "flags"),
                 "--out", str(out)]) == 0
    assert 'id="changed-inputs"' not in out.read_text(encoding="utf-8")


def test_show(made, capsys):
    base, _ = made
    run_dir = base / "flags"
    scores = read_run(run_dir).table("scores").set_index("account_id")
    account = top(run_dir)[0]
    assert main(["show", account, "--run", str(run_dir)]) == 0
    text = capsys.readouterr().out
    row = scores.loc[account]
    assert f"account {account}" in text
    assert f"score            {row['score']:.3f}   rank #1 of " in text
    assert "status           flagged" in text
    for reason in row["reasons"].split("; "):
        assert f"  - {reason}" in text
    if row["cluster_id"] >= 0:
        assert f"cluster          {row['cluster_id']} (#" in text and "undecided" in text
    links = read_run(run_dir).table("links")
    mine = links[(links["account_a"] == account) | (links["account_b"] == account)]
    for mask in mine["top_identifier"]:
        assert mask in text


def test_show_escapes_and_refuses(made, tmp_path, capsys):
    base, _ = made
    assert main(["show", "nobody", "--run", str(base / "flags")]) == 2
    err = capsys.readouterr().err
    assert "account 'nobody' is not in the run" in err and len(err.strip().splitlines()) == 1
    assert main(["show", "x", "--run", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err


@pytest.mark.parametrize("ext", ["graphml", "gexf", "csv"])
def test_neighbours_by_extension(made, tmp_path, capsys, ext):
    base, p = made
    run_dir = base / "flags"
    account = top(run_dir)[0]
    out = tmp_path / f"n.{ext}"
    assert main(["neighbours", account, "--run", str(run_dir), "--hops", "2",
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    clear = set(p.identifiers["value"].astype(str))
    if ext == "graphml":
        G = nx.read_graphml(out)
    elif ext == "gexf":
        G = nx.read_gexf(out)
    else:
        t = pd.read_csv(out, dtype=str)
        G = nx.Graph()
        G.add_nodes_from(t.loc[t["element"] == "node", "id"])
        e = t[t["element"] == "edge"]
        G.add_edges_from(zip(e["source"], e["target"]))
        labels = t.loc[t["element"] == "node", "label"]
        assert not set(labels) & clear
    assert account in G
    n_acc = sum(1 for v in G if not str(v).startswith("identifier:"))
    assert f"{n_acc} accounts" in said and f"{G.number_of_edges()} edges" in said
    assert G.number_of_edges() > 0 and nx.is_connected(G)
    hits = [v for v in clear if len(v) > 6 and v in text]
    assert not hits, hits[:3]                             # identifier values never in clear


def test_neighbours_from_the_kept_graph_after_a_change(run_copy, tmp_path, capsys):
    run_dir, platform_dir = run_copy
    account = top(run_dir)[0]
    before = tmp_path / "before.graphml"
    assert main(["neighbours", account, "--run", str(run_dir), "--out", str(before),
                 "--max-nodes", "40"]) == 0
    change_in_place(platform_dir, "identifiers")
    after = tmp_path / "after.graphml"
    assert main(["neighbours", account, "--run", str(run_dir), "--out", str(after),
                 "--max-nodes", "40"]) == 0
    assert "identifiers: sha256 differs" in capsys.readouterr().out
    a, b = nx.read_graphml(before), nx.read_graphml(after)
    accounts = lambda G: sorted(v for v, d in G.nodes(data=True) if d["kind"] == "account")  # noqa: E731
    assert accounts(a) == accounts(b)
    # the kept graph carries the run's masks: the identifiers named in the run's links
    links = read_run(run_dir).table("links")
    named = set(links["top_identifier"].astype(str))
    shown_b = {d["label"] for _, d in b.nodes(data=True) if d["kind"] != "account"}
    assert shown_b & named
    far = read_run(run_dir).table("scores")
    kept = set(read_run(run_dir).stored_graph().graph.account_ids)
    outside = next(x for x in far["account_id"].astype(str) if x not in kept)
    assert main(["neighbours", outside, "--run", str(run_dir), "--out", str(after)]) == 2
    assert "not in the graph the run kept" in capsys.readouterr().err


def test_neighbours_refuses_bad_options(made, tmp_path, capsys):
    base, _ = made
    run_dir = str(base / "flags")
    account = top(base / "flags")[0]
    for extra, msg in ((["--out", str(tmp_path / "n.png")], ".graphml, .gexf, .csv"),
                       (["--out", str(tmp_path / "n.csv"), "--hops", "-1"], "--hops"),
                       (["--out", str(tmp_path / "d.csv")], "is a folder")):
        (tmp_path / "d.csv").mkdir(exist_ok=True)
        name = extra[1].split("/")[-1]
        assert main(["neighbours", account, "--run", run_dir, *extra]) == 2, name
        assert msg in capsys.readouterr().err
    assert main(["neighbours", "nobody", "--run", run_dir, "--out",
                 str(tmp_path / "n.csv")]) == 2
    assert "not in the run" in capsys.readouterr().err
    assert not (tmp_path / "n.csv").exists()


def test_rings(made, tmp_path, capsys):
    base, _ = made
    run_dir = base / "flags"
    assert main(["rings", "--run", str(run_dir), "--top", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "active with undecided members" in lines[0]
    assert lines[1].split() == ["ring", "size", "banned", "flagged", "undecided", "last",
                                "activity", "active", "risk"]
    assert len(lines) == 2 + 5
    clusters = read_run(run_dir).table("clusters")            # the run's own order
    assert [int(x.split()[0]) for x in lines[2:]] == clusters["cluster_id"].head(5).tolist()
    first = clusters.iloc[0]
    assert first["active"] and first["undecided"] > 0
    assert main(["rings", "--run", str(run_dir), "--top", "1", "--active-days", "0"]) == 2
    assert "--active-days" in capsys.readouterr().err
    assert main(["rings", "--run", str(run_dir), "--top", "0"]) == 2
    capsys.readouterr()
    assert main(["rings", "--run", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err

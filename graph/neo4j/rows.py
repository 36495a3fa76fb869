"""Preparing a flag run's rows for the sync: one ``UNWIND $rows`` query per step and label.

:func:`_prepare` turns the input tables and the flag outputs into ``_Write`` s (a
step name, a parameterised query with its labels and types from
:mod:`~ringfence.graph.neo4j.names`, and the rows as plain Python values), and
validates everything before a single row is sent. :func:`default_run_id` is the
content hash stamped on all of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ringfence.graph.neo4j.names import (
    ATTR_PREFIX, CLUSTER_TIME_COLUMNS, GENERIC_IDENTIFIER, IDENTIFIER_LABELS, KIND_RE,
    OUTPUT_PROPS, PROP_RE, RESERVED_ACCOUNT_PROPS, TYPE_RE, _checked_name,
    _identifier_pattern,
    relationship_type,
)
from ringfence.graph.tables import TABLES, Tables

__all__ = ["default_run_id"]

def _iso(col: pd.Series) -> list[str | None]:
    """UTC timestamps as ISO 8601 strings with nanoseconds and Z (None when missing)."""
    t = pd.to_datetime(col, utc=True)
    raw = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    text = np.char.add(np.datetime_as_string(raw, unit="ns"), "Z").astype(object)
    text[np.isnat(raw)] = None
    return text.tolist()


def _py(col: pd.Series) -> list:
    """A column as Python scalars for the driver: NaN/NA -> None, numpy -> int/float/bool/str."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col):
        return _iso(col)
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return col.astype(bool).tolist()
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.astype("int64").tolist()
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        out = values.astype(object)
        out[~np.isfinite(values)] = None
        return out.tolist()
    values = col.astype(object).where(col.notna(), None).tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _content_key(frame: pd.DataFrame) -> list[str]:
    """A deterministic 64-bit hex key per row from the row's content (+ its ordinal among
    identical rows), so the same row gets the same key in every run."""
    f = frame.astype(str)
    f["_n"] = f.groupby(list(frame.columns), sort=False).cumcount().astype(str)
    h = pd.util.hash_pandas_object(f, index=False).to_numpy(np.uint64)
    return [format(int(x), "016x") for x in h]




def _named(*names: str) -> tuple[tuple[str, str], ...]:
    """Row fields taken from frame columns of the same name."""
    return tuple((n, n) for n in names)


@dataclass
class _Write:
    """One ``UNWIND $rows`` query and its rows, kept as a typed table.

    ``frame`` has one line per row; ``top`` maps the row's fields and ``props`` the
    fields of ``row.props`` to frame columns (``const`` is added to every ``props``:
    the run id). ``key`` names the columns that identify the element written (the
    incremental sync diffs by it; :func:`_delete` removes elements by those columns).
    Rows are made as plain Python values only when sent (:meth:`rows`), a batch at
    a time, so the bulk export and the diff never build them.
    """

    name: str
    query: str
    frame: pd.DataFrame
    top: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    props: tuple[tuple[str, str], ...] = ()
    const: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, index: Any = slice(None)) -> list[dict]:
        """The rows at ``index`` (a slice or positions) as the query's parameter."""
        f = self.frame.iloc[index]
        cols = {c: _py(f[c].reset_index(drop=True))
                for c in dict.fromkeys(c for _, c in self.top + self.props)}
        keys = [k for k, _ in self.top]
        tops = [dict(zip(keys, vals)) for vals in zip(*(cols[c] for _, c in self.top))]
        if not self.props and not self.const:
            return tops
        names = [p for p, _ in self.props]
        const = self.const
        props = [{**dict(zip(names, vals)), **const}
                 for vals in zip(*(cols[c] for _, c in self.props))] if self.props else \
            [dict(const) for _ in range(len(f))]
        for t, p in zip(tops, props):
            t["props"] = p
        return tops


def _delete(name: str) -> tuple[str, tuple[str, ...]]:
    """The query that deletes elements of a write (by its name) given their key fields,
    and those fields: what the incremental sync runs for rows a new run no longer has."""
    step, _, sub = name.partition(":")
    if step == "accounts":
        return ("UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id}) "
                "DETACH DELETE a", ("account_id",))
    if step == "identifiers":
        return (f"UNWIND $rows AS row MATCH {_identifier_pattern('i', sub)} DETACH DELETE i",
                ("kind", "value"))
    if step == "uses":
        return ("UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id})"
                f"-[u:USES]->{_identifier_pattern('i', sub)} DELETE u",
                ("account_id", "kind", "value"))
    if step == "edges":
        return ("UNWIND $rows AS row MATCH (a:Account {account_id: row.src})"
                f"-[r:{_checked_name(sub, TYPE_RE)} {{edge_id: row.edge_id}}]->"
                "(b:Account {account_id: row.dst}) DELETE r", ("src", "dst", "edge_id"))
    if step == "enforcement":
        return ("UNWIND $rows AS row MATCH (e:Enforcement {enforcement_id: row.enforcement_id}) "
                "DETACH DELETE e", ("enforcement_id",))
    if step == "clusters":
        return ("UNWIND $rows AS row MATCH (c:Cluster {cluster_id: row.cluster_id}) "
                "DETACH DELETE c", ("cluster_id",))
    if step == "in_cluster":
        return ("UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id})"
                "-[m:IN_CLUSTER]->(c:Cluster {cluster_id: row.cluster_id}) DELETE m",
                ("account_id", "cluster_id"))
    if step == "same_actor":
        return ("UNWIND $rows AS row MATCH (a:Account {account_id: row.a})"
                "-[s:SAME_ACTOR]->(b:Account {account_id: row.b}) DELETE s", ("a", "b"))
    raise ValueError(f"no sync step {name!r}")


def _outputs(result: Any) -> dict[str, pd.DataFrame]:
    names = ("scores", "links", "clusters")
    if isinstance(result, Mapping):
        missing = [n for n in names if n not in result]
        if missing:
            raise ValueError(f"flag outputs missing: {', '.join(missing)}")
        return {n: result[n] for n in names}
    if all(hasattr(result, n) for n in names):
        return {n: getattr(result, n) for n in names}
    raise TypeError("result must be a FlagResult or a mapping of the flag job's output tables")


def default_run_id(tables: Tables, outputs: Mapping[str, pd.DataFrame]) -> str:
    """A content hash of the inputs and outputs: the same run always gets the same id,
    and any change (one score, one edge) gives a new one."""
    h = hashlib.sha256()
    for name in TABLES:
        df = tables[name]
        if df is not None:
            h.update(name.encode())
            h.update(",".join(map(str, df.columns)).encode())
            h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    for name in sorted(outputs):
        df = outputs[name]
        h.update(name.encode())
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return "r" + h.hexdigest()[:15]


def _account_write(tables: Tables, scores: pd.DataFrame, run_id: str) -> _Write:
    acc = tables.accounts.reset_index(drop=True)
    ids = acc["account_id"].astype(str)
    cols: dict[str, pd.Series] = {"account_id": ids}
    for col in acc.columns:
        if col in ("account_id", "created_at"):
            continue
        key = str(col)
        if key in RESERVED_ACCOUNT_PROPS or key.startswith(ATTR_PREFIX):
            key = ATTR_PREFIX + key
        cols[key] = acc[col]
    s = scores.set_index(scores["account_id"].astype(str))
    missing = ~ids.isin(s.index)
    if missing.any() or len(s) != len(acc):
        raise ValueError(
            f"the flag outputs do not belong to these inputs: {int(missing.sum()):,} of "
            f"{len(acc):,} accounts have no score (e.g. {ids[missing].head(3).tolist()}), "
            f"scores has {len(s):,} rows")
    s = s.loc[ids]
    for col in OUTPUT_PROPS:
        if col in s.columns:
            v = s[col]
            if col == "reasons":
                v = v.astype(object).where(v.notna(), "")
            cols[col] = v.reset_index(drop=True)
    created = (pd.to_datetime(acc["created_at"], utc=True) if "created_at" in acc.columns
               else pd.Series(pd.NaT, index=acc.index, dtype="datetime64[ns, UTC]"))
    frame = pd.DataFrame(cols)
    props = _named(*frame.columns)
    frame["~created_at"] = created
    return _Write("accounts",
                  "UNWIND $rows AS row "
                  "MERGE (a:Account {account_id: row.account_id}) "
                  "SET a = row.props, a.created_at = datetime(row.created_at)",
                  frame, top=(("account_id", "account_id"), ("created_at", "~created_at")),
                  props=props, const={"run_id": run_id}, key=("account_id",))


def _identifier_frames(tables: Tables, graph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(identifiers: one row per (kind, value); uses: one row per (account, kind, value))."""
    idf = tables.identifiers
    if idf is None or len(idf) == 0:
        return (pd.DataFrame(columns=["kind", "value"]),
                pd.DataFrame(columns=["account_id", "kind", "value"]))
    seen = idf["seen_at"] if "seen_at" in idf.columns else pd.Series(
        pd.NaT, index=idf.index, dtype="datetime64[ns, UTC]")
    obs = pd.DataFrame({"account_id": idf["account_id"].astype(str).to_numpy(),
                        "kind": idf["kind"].astype(str).to_numpy(),
                        "value": idf["value"].astype(str).to_numpy(),
                        "seen": pd.to_datetime(seen, utc=True).reset_index(drop=True)})
    bad = sorted({k for k in obs["kind"].unique() if not KIND_RE.fullmatch(k)})
    if bad:
        raise ValueError(f"identifier kinds must be lower-case tokens, got {bad[:5]!r}")
    obs = obs.sort_values(["account_id", "kind", "value", "seen"], na_position="last",
                          kind="stable").reset_index(drop=True)
    key = obs[["account_id", "kind", "value"]]
    new = np.r_[True, (key.iloc[1:].to_numpy() != key.iloc[:-1].to_numpy()).any(axis=1)]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(obs)]
    timed = obs["seen"].notna().to_numpy()
    n_timed = np.add.reduceat(timed.astype(np.int64), starts)
    iso = _iso(obs["seen"])
    uses = obs.iloc[starts][["account_id", "kind", "value"]].reset_index(drop=True)
    uses["count"] = ends - starts
    # every timed observation, when there is more than one (else first_seen says it all:
    # most pairs are seen once, and the list costs a third of the USES write rate)
    uses["seen_at"] = [iso[s:s + n] if c > 1 else None
                       for s, n, c in zip(starts.tolist(), n_timed.tolist(),
                                          (ends - starts).tolist())]
    last_idx = np.maximum(starts + n_timed - 1, starts)
    uses["first_seen"] = obs["seen"].iloc[starts].reset_index(drop=True)
    uses["last_seen"] = obs["seen"].iloc[last_idx].reset_index(drop=True)
    g = uses.groupby(["kind", "value"], sort=False)
    ident = g.agg(n_accounts=("account_id", "size"), first_seen=("first_seen", "min"),
                  last_seen=("last_seen", "max")).reset_index()
    if graph is not None and len(graph.identifiers):
        gi = graph.identifiers
        w = pd.DataFrame({"kind": gi["kind"].astype(str).to_numpy(),
                          "value": gi["value"].astype(str).to_numpy(),
                          "weight": gi["weight"].to_numpy(float)})
        ident = ident.merge(w, on=["kind", "value"], how="left")
    else:
        ident["weight"] = np.nan
    return ident, uses


def _degrees(tables: Tables, uses: pd.DataFrame) -> pd.Series:
    parts = [uses["account_id"]] if len(uses) else []
    if tables.edges is not None and len(tables.edges):
        parts += [tables.edges["src"].astype(str), tables.edges["dst"].astype(str)]
    if not parts:
        return pd.Series(dtype=np.int64)
    return pd.concat(parts, ignore_index=True).value_counts()


def _prepare(tables: Tables, outputs: Mapping[str, pd.DataFrame], graph,
             run_id: str) -> list[_Write]:
    writes: list[_Write] = [_account_write(tables, outputs["scores"], run_id)]
    stamp = "$run_id"
    const = {"run_id": run_id}

    # identifiers and USES, one query per fixed label (never interpolated from data)
    ident, uses = _identifier_frames(tables, graph)
    if len(ident):
        ident = ident.assign(_label=ident["kind"].map(IDENTIFIER_LABELS)
                             .fillna(GENERIC_IDENTIFIER))
        uses = uses.assign(_label=uses["kind"].map(IDENTIFIER_LABELS).fillna(GENERIC_IDENTIFIER))
        for label, part in ident.groupby("_label", sort=True):
            node = _identifier_pattern("i", label)
            writes.append(_Write(
                f"identifiers:{label}",
                f"UNWIND $rows AS row MERGE {node} "
                "SET i = row.props, i.first_seen = datetime(row.first_seen), "
                "i.last_seen = datetime(row.last_seen)",
                part.reset_index(drop=True),
                top=_named("kind", "value", "first_seen", "last_seen"),
                props=_named("kind", "value", "n_accounts", "weight"), const=const,
                key=("kind", "value")))
        for label, part in uses.groupby("_label", sort=True):
            node = _identifier_pattern("i", label)
            writes.append(_Write(
                f"uses:{label}",
                "UNWIND $rows AS row "
                "MATCH (a:Account {account_id: row.account_id}) "
                f"MATCH {node} "
                "MERGE (a)-[u:USES]->(i) "
                "SET u.count = row.count, u.seen_at = [s IN row.seen_at | datetime(s)], "
                "u.first_seen = datetime(row.first_seen), u.last_seen = datetime(row.last_seen), "
                f"u.run_id = {stamp}",
                part.reset_index(drop=True),
                top=_named("account_id", "kind", "value", "count", "seen_at", "first_seen",
                           "last_seen"),
                key=("account_id", "kind", "value")))

    # account-to-account edges: one relationship per input row, keyed by a content hash
    edf = tables.edges
    if edf is not None and len(edf):
        edf = edf.reset_index(drop=True)
        kinds = edf["kind"].astype(str)
        types = {k: relationship_type(k) for k in sorted(kinds.unique())}  # validates
        deg = _degrees(tables, uses)
        src, dst = edf["src"].astype(str), edf["dst"].astype(str)
        at = pd.to_datetime(edf["at"], utc=True) if "at" in edf.columns else pd.Series(
            pd.NaT, index=edf.index, dtype="datetime64[ns, UTC]")
        amount = edf["amount"] if "amount" in edf.columns else pd.Series(np.nan, index=edf.index)
        weight = edf["weight"].astype(float)
        key = _content_key(pd.DataFrame({"src": src, "dst": dst, "kind": kinds,
                                         "at": _iso(at), "weight": weight,
                                         "amount": amount.astype(float)}))
        frame = pd.DataFrame({"src": src, "dst": dst, "edge_id": key, "at": at,
                              "kind": kinds, "weight": weight, "amount": amount.astype(float)})
        src_left = src.map(deg).fillna(0).to_numpy() <= dst.map(deg).fillna(0).to_numpy()
        kind_arr = kinds.to_numpy()
        match = ("UNWIND $rows AS row MATCH (a:Account {account_id: row.src}) "
                 "MATCH (b:Account {account_id: row.dst}) ")
        for kind, rtype in types.items():
            for left in (True, False):
                idx = np.flatnonzero((kind_arr == kind) & (src_left == left))
                if not len(idx):
                    continue
                # ArcadeDB scans the relationships of the node written on the left of a
                # relationship MERGE: write the endpoint with the lower degree there.
                pattern = (f"MERGE (a)-[r:{rtype} {{edge_id: row.edge_id}}]->(b) " if left
                           else f"MERGE (b)<-[r:{rtype} {{edge_id: row.edge_id}}]-(a) ")
                writes.append(_Write(
                    f"edges:{rtype}", match + pattern + "SET r = row.props, r.at = datetime(row.at)",
                    frame.iloc[idx].reset_index(drop=True),
                    top=_named("src", "dst", "edge_id", "at"),
                    props=_named("edge_id", "kind", "weight", "amount"), const=const,
                    key=("src", "dst", "edge_id")))

    # enforcement: one node per input row, keyed by a content hash
    enf = tables.enforcement
    if enf is not None and len(enf):
        enf = enf.reset_index(drop=True)
        acct = enf["account_id"].astype(str)
        action = enf["action"].astype(str)
        reason = (enf["reason"].astype(object).where(enf["reason"].notna(), "").astype(str)
                  if "reason" in enf.columns else pd.Series("", index=enf.index))
        at = pd.to_datetime(enf["at"], utc=True) if "at" in enf.columns else pd.Series(
            pd.NaT, index=enf.index, dtype="datetime64[ns, UTC]")
        key = _content_key(pd.DataFrame({"a": acct, "action": action, "at": _iso(at),
                                         "reason": reason}))
        writes.append(_Write(
            "enforcement",
            "UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id}) "
            "MERGE (e:Enforcement {enforcement_id: row.enforcement_id}) "
            "SET e = row.props, e.at = datetime(row.at) "
            "MERGE (a)-[h:HAS_ENFORCEMENT]->(e) "
            f"SET h.run_id = {stamp}",
            pd.DataFrame({"account_id": acct, "enforcement_id": key, "at": at,
                          "action": action, "reason": reason}),
            top=_named("account_id", "enforcement_id", "at"),
            props=_named("enforcement_id", "account_id", "action", "reason"), const=const,
            key=("enforcement_id",)))

    # clusters and memberships
    clusters = outputs["clusters"].reset_index(drop=True)
    if len(clusters):
        times = [c for c in CLUSTER_TIME_COLUMNS if c in clusters.columns]
        frame = clusters.rename(columns=str)
        for t in times:
            frame[t] = pd.to_datetime(frame[t], utc=True)
        plain = [str(c) for c in clusters.columns if c not in times]
        frame["~cluster_id"] = clusters["cluster_id"].astype("int64")
        set_times = "".join(f", c.{_checked_name(t, PROP_RE)} = datetime(row.{t})"
                            for t in times)
        writes.append(_Write("clusters",
                             "UNWIND $rows AS row MERGE (c:Cluster {cluster_id: row.cluster_id}) "
                             "SET c = row.props" + set_times, frame,
                             top=(("cluster_id", "~cluster_id"),) + _named(*times),
                             props=_named(*plain), const=const, key=("~cluster_id",)))
    scores = outputs["scores"]
    member = scores[scores["cluster_id"].astype("int64") >= 0]
    if len(member):
        writes.append(_Write("in_cluster",
                             "UNWIND $rows AS row MATCH (a:Account {account_id: row.account_id}) "
                             "MATCH (c:Cluster {cluster_id: row.cluster_id}) "
                             f"MERGE (a)-[m:IN_CLUSTER]->(c) SET m.run_id = {stamp}",
                             pd.DataFrame({"account_id": member["account_id"].astype(str)
                                           .to_numpy(),
                                           "cluster_id": member["cluster_id"].astype("int64")
                                           .to_numpy()}),
                             top=_named("account_id", "cluster_id"),
                             key=("account_id", "cluster_id")))

    # identity links: one SAME_ACTOR per pair, from the smaller account id to the larger
    # (shared_environment links are evidence, not one actor: they stay in the links table)
    links = outputs["links"]
    if "link_kind" in links.columns:
        links = links[links["link_kind"].astype(str) == "same_actor"]
    links = links.reset_index(drop=True)
    if len(links):
        a = links["account_a"].astype(str).to_numpy()
        b = links["account_b"].astype(str).to_numpy()
        n_shared = links["n_shared"].astype("int64")
        top = links["top_identifier"].astype(str)
        top_kind = links["top_kind"].astype(str).tolist()
        shared_by = links["top_shared_by"].astype("int64").tolist()
        why = links["reason"].astype(str).tolist() if "reason" in links.columns \
            else [""] * len(links)
        # a link on partial or timing evidence shares no identical value: its reason says why
        evidence = [(f"shares {k} {m} (used by {s:,} accounts)"
                     + (f" and {n - 1} more identifier{'s' if n > 2 else ''}" if n > 1 else ""))
                    if n else f"shares no identical identifier: {r}"
                    for k, m, s, n, r in zip(top_kind, top.tolist(), shared_by,
                                             n_shared.tolist(), why)]
        frame = pd.DataFrame({"a": np.where(a <= b, a, b), "b": np.where(a <= b, b, a),
                              "weight": links["weight"].astype(float), "evidence": evidence,
                              "n_shared": n_shared, "kinds": links["kinds"],
                              "top_identifier": top, "identity_id": links["identity_id"],
                              "cut": links["cut"].astype(bool)})
        writes.append(_Write("same_actor",
                             "UNWIND $rows AS row MATCH (a:Account {account_id: row.a}) "
                             "MATCH (b:Account {account_id: row.b}) "
                             "MERGE (a)-[s:SAME_ACTOR]->(b) SET s = row.props", frame,
                             top=_named("a", "b"),
                             props=_named("weight", "evidence", "n_shared", "kinds",
                                          "top_identifier", "identity_id", "cut"),
                             const=const, key=("a", "b")))
    return writes

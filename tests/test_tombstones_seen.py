"""Who sees tombstones (docs/retention.md): lineage answers pass through deleted datasets
and mark them; what lists data that exists skips them unless asked.

The tombstones are made by :func:`tests.tombstones.tombstone` (the stand-in for ``lineage
delete`` until the merge).
"""

from __future__ import annotations

import json

import pytest

from lineage.demo import default_visit
from lineage.traversal.show import show
from lineage.traversal.traverse import count, explain, traverse

from .cli_runner import run
from .conftest import SMALL
from .tombstones import DELETED_AT, tombstone

VISIT = default_visit(SMALL)


def _calexps(store, visit=VISIT):
    return [r.key for r in traverse(store, f"visit={visit}", types=["calexp"])]


def test_lineage_passes_through_tombstones_and_marks_them(demo_store):
    """The issue's must-show: after deleting the calexps of a visit, the coadds made from
    it are the same, and the upstream of a coadd still lists the calexps, marked deleted."""
    store = demo_store
    coadds_before = traverse(store, f"visit={VISIT}", types=["deepCoadd"])
    counts_before = count(store, f"visit={VISIT}")
    calexps = _calexps(store)
    assert calexps and all(r.deleted is None for r in coadds_before)
    tombstone(store, calexps, by="ops", reason="intermediates of DRP-1")
    coadds = traverse(store, f"visit={VISIT}", types=["deepCoadd"])
    assert [r.key for r in coadds] == [r.key for r in coadds_before]
    assert all(r.deleted is None for r in coadds)
    up = traverse(store, coadds[0].key, "up", types=["calexp"])
    marked = {r.key: r.deleted for r in up}
    assert set(calexps) & set(marked)
    assert all(marked[k] == DELETED_AT for k in calexps if k in marked)
    assert all(r.as_dict()["deleted"] == DELETED_AT for r in up if r.key in calexps)
    # counts are unchanged by deletion; a path through a tombstone is still a path
    assert count(store, f"visit={VISIT}") == counts_before
    assert explain(store, f"visit={VISIT}", coadds[0].key)
    view = show(store, calexps[0])
    assert view["deleted"] == (f"deleted {DELETED_AT} by ops: intermediates of DRP-1; "
                               "files kept (forced: live datasets depended on it)")
    assert "deleted" not in show(store, coadds[0].key)


def test_no_tombstone_no_deletion_query(demo_store_ro):
    """In a repository without a tombstone the answer carries ``deleted`` None, read with
    one probe (the traversal's own steps never read it)."""
    rows = traverse(demo_store_ro, f"visit={VISIT}")
    assert rows and all(r.deleted is None for r in rows)


# --- the command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def deleted_repo(demo_repo):
    """The small demo with the calexps of the default visit deleted (files removed)."""
    from lineage.store.repo import open_store
    with open_store(demo_repo, keep=True) as store:
        calexps = _calexps(store)
        tombstone(store, calexps, by="ops", reason="intermediates of DRP-1",
                  files_removed=True)
    return demo_repo, calexps


def _lineage(*args):
    return run(*args, env={"LINEAGE_REPO": None, "COLUMNS": "250"})


def test_cli_upstream_shows_a_deleted_column_only_when_some_row_is_deleted(deleted_repo):
    repo, calexps = deleted_repo
    coadd = json.loads(_lineage("downstream", f"visit={VISIT}", "--type", "deepCoadd",
                                "--repo", repo, "--json").stdout)[0]
    assert coadd["deleted"] is None        # JSON always has the field
    up = _lineage("upstream", coadd["key"], "--type", "calexp", "--repo", repo)
    assert up.returncode == 0, up.stderr
    assert "deleted" in up.stdout and DELETED_AT in up.stdout
    live = _lineage("upstream", coadd["key"], "--type", "raw", "--repo", repo)
    assert live.returncode == 0 and "deleted" not in live.stdout
    csv_text = _lineage("upstream", coadd["key"], "--type", "raw", "--repo", repo,
                        "--format", "csv").stdout
    assert csv_text.splitlines()[0].endswith(",deleted")
    path = json.loads(_lineage("downstream", calexps[0], "--explain", coadd["key"],
                               "--repo", repo, "--json").stdout)
    assert path["deleted"] == {calexps[0]: DELETED_AT}


def test_cli_show_of_a_tombstone_says_when_by_whom_why_and_files(deleted_repo):
    repo, calexps = deleted_repo
    shown = _lineage("show", calexps[0], "--repo", repo)
    assert shown.returncode == 0, shown.stderr
    assert (f"deleted {DELETED_AT} by ops: intermediates of DRP-1; files removed"
            in " ".join(shown.stdout.split()))


# --- GraphQL --------------------------------------------------------------------------------

def _ok(client, query, variables=None):
    answer = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _keys(connection) -> set[str]:
    return {e["node"]["key"] for e in connection["edges"]}


def test_graphql_lineage_marks_tombstones_and_listings_skip_them(deleted_repo):
    from .conftest import client_for
    repo, calexps = deleted_repo
    with client_for(repo) as client:
        _check_graphql(client, calexps)


def _check_graphql(client, calexps):
    data = _ok(client, """query($from: String!) {
      lineage(from: $from, types: ["calexp"], first: 500) { edges { node { key
        deleted { at by reason forced filesRemoved history } } } } }""",
               {"from": f"visit={VISIT}"})
    marked = {e["node"]["key"]: e["node"]["deleted"] for e in data["lineage"]["edges"]}
    assert set(calexps) <= set(marked)
    assert marked[calexps[0]] == {
        "at": DELETED_AT, "by": "ops", "reason": "intermediates of DRP-1", "forced": True,
        "filesRemoved": True, "history": [f"{DELETED_AT} deleted by ops: intermediates of DRP-1"]}
    assert all(d is None for k, d in marked.items() if k not in calexps)
    one = _ok(client, "query($id: String!) { dataset(id: $id) { deleted { at } } }",
              {"id": calexps[0]})
    assert one["dataset"]["deleted"] == {"at": DELETED_AT}

    listing = """query($inc: Boolean) {
      datasets(filter: {datasetType: ["calexp"], selector: "visit=2026030100001",
                        includeDeleted: $inc}, first: 500) {
        totalCount edges { node { key } } } }"""
    live = _ok(client, listing, {"inc": False})
    every = _ok(client, listing, {"inc": True})
    assert not set(calexps) & _keys(live["datasets"])
    assert set(calexps) <= _keys(every["datasets"])
    assert every["datasets"]["totalCount"] - live["datasets"]["totalCount"] == len(calexps)
    members = """query($inc: Boolean) { datasetTypes(first: 40) { edges { node {
      ... on DatasetType { name datasets(first: 100, includeDeleted: $inc) { totalCount } } } } }
      collections(first: 40) { edges { node {
      ... on Collection { name datasets(first: 100, includeDeleted: $inc) { totalCount } } } } } }"""

    def totals(data, field):
        return {e["node"]["name"]: e["node"]["datasets"]["totalCount"]
                for e in data[field]["edges"]}
    live, every = _ok(client, members, {"inc": False}), _ok(client, members, {"inc": True})
    for field in ("datasetTypes", "collections"):
        skipped = {name: n - totals(live, field)[name]
                   for name, n in totals(every, field).items() if n != totals(live, field)[name]}
        assert sum(skipped.values()) == len(calexps), (field, skipped)   # each in one RUN
    assert totals(every, "datasetTypes")["calexp"] - totals(live, "datasetTypes")["calexp"] \
        == len(calexps)


# --- fetch and cache prefetch: a selection holds no tombstone unless asked --------------

def test_fetch_skips_tombstones_and_refuses_one_named_by_uuid(deleted_repo, tmp_path):
    repo, calexps = deleted_repo
    out = tmp_path / "out"
    args = ["fetch", f"visit={VISIT}", "--downstream", "--type", "calexp,src", "--to", out,
            "--dry-run", "--json", "--repo", repo]
    live = json.loads(_lineage(*args).stdout)
    every = json.loads(_lineage(*args, "--include-deleted").stdout)
    assert every["count"] - live["count"] == len(calexps) and live["count"] > 0
    assert not {a["key"] for a in live["artifacts"]} & set(calexps)
    uuid = calexps[0].split(":", 1)[1]
    refused = _lineage("fetch", uuid, "--to", out, "--dry-run", "--json", "--repo", repo)
    assert refused.returncode != 0
    assert f"{calexps[0]} was deleted {DELETED_AT} by ops: intermediates of DRP-1" \
        in refused.stderr
    named = json.loads(_lineage("fetch", uuid, "--to", out, "--dry-run", "--json",
                                "--include-deleted", "--repo", repo).stdout)
    assert [a["key"] for a in named["artifacts"]] == [calexps[0]]
    prefetch = _lineage("cache", "prefetch", uuid, "--cache", tmp_path / "cache",
                        "--repo", repo, "--json")
    assert prefetch.returncode != 0 and "was deleted" in prefetch.stderr


# --- lightcurve epochs ----------------------------------------------------------------------

def test_lightcurve_leaves_out_epochs_of_deleted_images_and_catalogs(demo_store, small_units,
                                                                    tmp_path):
    import pandas as pd

    from lineage.demo.catalogs import write_catalogs
    from lineage.fetch.datastore import FileDatastore
    from lineage.lightcurve import lightcurve
    write_catalogs(SMALL, small_units, tmp_path)
    sources = pd.concat([pd.read_parquet(f) for f in sorted(
        (tmp_path / "DemoCam/runs/DR2/dia_source").glob("*.parq"))], ignore_index=True)
    obj = int(sources["diaObjectId"].value_counts().index[0])
    where, release = FileDatastore(tmp_path), "DemoCam/DR2"
    whole = lightcurve(demo_store, obj, release, where)
    assert whole.attrs["left_out_deleted"] == whole.attrs["left_out_deleted_catalogs"] == 0
    first, last = whole.iloc[0], whole.iloc[-1]
    tombstone(demo_store, [first["calexp"], last["source_dataset"]])
    lc = lightcurve(demo_store, obj, release, where)
    image_gone = int((whole["calexp"] == first["calexp"]).sum())
    catalog_gone = int((whole["source_dataset"] == last["source_dataset"]).sum())
    assert lc.attrs["left_out_deleted"] == image_gone >= 1
    assert lc.attrs["left_out_deleted_catalogs"] == 1
    assert len(lc) == len(whole) - image_gone - catalog_gone
    assert first["calexp"] not in set(lc["calexp"])
    every = lightcurve(demo_store, obj, release, where, include_deleted=True)
    assert len(every) == len(whole) and every.attrs["left_out_deleted"] == 0


# --- release diffs --------------------------------------------------------------------------

def test_a_release_holds_no_tombstone_so_one_deleted_since_is_removed(demo_store):
    from lineage.diff import DiffFilter, diff_releases

    def statuses(flt):
        records = []
        result = diff_releases(demo_store, "DemoCam/DR1", "DemoCam/DR2", flt,
                               records.append, progress=False, metrics=False)
        return {r["data_id"]: r["status"] for r in records}, result.summary()["totals"]

    calexps = traverse(demo_store, f"visit={VISIT}", types=["calexp"])
    in_b = [r for r in calexps if r.run.endswith("DR2")]
    assert in_b and len(in_b) < len(calexps)          # the visit is in both releases
    before, totals_before = statuses(DiffFilter.make(types=["calexp"]))
    tombstone(demo_store, [r.key for r in in_b])
    after, totals = statuses(DiffFilter.make(types=["calexp"]))
    gone = {r.data_id for r in in_b}
    assert {d: s for d, s in after.items() if d in gone} == dict.fromkeys(gone, "removed")
    assert {d: s for d, s in after.items() if d not in gone} == \
        {d: s for d, s in before.items() if d not in gone}
    assert totals["b"] == totals_before["b"] - len(in_b)
    every, totals_every = statuses(DiffFilter.make(types=["calexp"], include_deleted=True))
    assert every == before and totals_every == totals_before


# --- search: a hit, marked --------------------------------------------------------------------

def test_search_hits_mark_tombstones_not_hide_them(deleted_repo):
    repo, calexps = deleted_repo
    by_visit = json.loads(_lineage("search", f"calexp visit={VISIT}", "--repo", repo,
                                   "--json").stdout)
    marked = {h["key"]: h for h in by_visit["hits"]}
    assert set(calexps) <= set(marked)
    assert all(marked[k]["deleted"] == DELETED_AT and marked[k]["label"].endswith("(deleted)")
               for k in calexps)
    uuid = calexps[0].split(":", 1)[1]
    (hit,) = json.loads(_lineage("search", uuid, "--repo", repo, "--json").stdout)["hits"]
    assert hit["deleted"] == DELETED_AT
    raw = json.loads(_lineage("search", f"raw visit={VISIT}", "--repo", repo,
                              "--json").stdout)["hits"]
    assert raw and all(h["deleted"] is None for h in raw)


# --- calibrations valid for an exposure: a deleted one is no longer there to use ----------

def test_a_deleted_calibration_is_not_valid_for_an_exposure(demo_store):
    from lineage.dataunits.calibs import valid_calibrations
    from lineage.demo import plan_survey
    visit = plan_survey(SMALL).visits[0]
    exposure = f"exposure={visit.id},detector={visit.detectors[0]}"
    before = valid_calibrations(demo_store, exposure)
    flat = next(c for c in before if c.dataset_type == "flat")
    tombstone(demo_store, [flat.key])
    after = valid_calibrations(demo_store, exposure)
    assert [c.key for c in after] == [c.key for c in before if c.key != flat.key]
    assert traverse(demo_store, flat.key, types=["calexp"])   # its lineage stays

"""``lineage retain``: what a retention rule would delete, on the small demo (embedded
engine): counts and bytes against the graph, kept types never listed, the age rule, and
nothing written by a dry run.  The demo's DR1 quanta ended 2026-03-11 .. 03-14 (TAI), DR2's
2026-04-10 .. 04-13, so a rule counted back from 2026-04-01 takes DR1 and leaves DR2."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from lineage.core.errors import UserError
from lineage.core.model import GraphBatch
from lineage.core.time import parse_duration
from lineage.retention.retain import RetentionError, plan
from lineage.store.repo import open_store

from .cli_runner import run
from .test_gc import demo, make_tombstones

DR1, DR2 = "DemoCam/runs/DR1", "DemoCam/runs/DR2"
APRIL = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)
KEEP = ["deepCoadd", "raw"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return demo(tmp_path_factory.mktemp("retain") / "repo")


@pytest.fixture
def store(repo):
    with open_store(repo) as s:
        yield s


def by_type_in_graph(store, run_name: str, keep) -> dict:
    rows = store.read("MATCH (d:Dataset) WHERE d.run = $r AND NOT d.dataset_type IN $keep "
                      "AND d.deleted_at IS NULL RETURN d.dataset_type, count(d), sum(d.size)",
                      {"r": run_name, "keep": keep})
    return {t: {"datasets": n, "bytes": int(b), "unknown_size": 0} for t, n, b in rows}


def snapshot(store):
    nodes = store.read("MATCH (n) RETURN n.key, properties(n)")
    return sorted((k, json.dumps(p, sort_keys=True)) for k, p in nodes), store.count()


def test_counts_and_bytes_against_the_graph(store):
    report = plan(store, KEEP, "1d", now=APRIL).as_dict()
    assert report["by_type"] == dict(sorted(by_type_in_graph(store, DR1, KEEP).items()))
    assert report["count"] == sum(v["datasets"] for v in report["by_type"].values())
    assert report["bytes"] == sum(v["bytes"] for v in report["by_type"].values())
    assert {d["run"] for d in report["datasets"]} == {DR1}
    assert report["too_recent"] == {t: v["datasets"] for t, v in
                                    by_type_in_graph(store, DR2, KEEP).items()}
    # bias and flat: a calibration RUN without quanta has no time: they stay
    assert report["age_unknown"] == {"bias": 12, "flat": 72}
    keys = [d["key"] for d in report["datasets"]]
    edges = len(store.related("Dataset", "INPUT_TO", True, None, [], keys)) + \
        len(store.related("Dataset", "PRODUCED", False, None, [], keys))
    stays = report["provenance"]
    assert stays["tombstones"] == len(keys) and stays["lineage_edges"] == edges > 0
    dr1_coadds = store.read("MATCH (d:Dataset {dataset_type: 'deepCoadd', run: $r}) "
                            "RETURN count(d)", {"r": DR1})[0][0]
    assert stays["kept_downstream"] == {"deepCoadd": dr1_coadds}
    assert 0 < stays["depended_on"] < len(keys)


def test_kept_types_are_never_listed(store):
    keep = ["deepCoadd", "calexp", "src", "raw"]
    report = plan(store, keep, "1d", now=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    types = {d.dataset_type for d in report.going}
    assert types and not types & set(keep)
    assert not report.too_recent        # by 2030 everything with a time is old enough
    with pytest.raises(UserError, match="deepcoadd.*did you mean deepCoadd") as err:
        plan(store, ["deepcoadd"], "1d")
    assert err.value.field == "keep"
    with pytest.raises(RetentionError) as err:
        plan(store, [], "1d")
    assert err.value.field == "keep"


def test_a_collection_limits_the_rule(store):
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    everything = plan(store, KEEP, "1d", now=later)
    dr1 = plan(store, KEEP, "1d", collection="DemoCam/DR1", now=later)
    assert {d.run for d in everything.going} == {DR1, DR2}
    assert {d.key for d in dr1.going} == {d.key for d in everything.going if d.run == DR1}
    with pytest.raises(UserError) as err:
        plan(store, KEEP, "1d", collection="DemoCam/DR9")
    assert err.value.field == "collection"


def test_the_age_rule(store):
    ends = dict(store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE d.run = $r "
                           "RETURN d.key, q.end", {"r": DR1}))
    cut = "2026-03-12T12:00:00.000"      # TAI, inside DR1's processing
    now = dt.datetime(2026, 3, 12, 12, 0, 0, tzinfo=dt.timezone.utc) \
        + dt.timedelta(days=2) - dt.timedelta(seconds=37)   # UTC; the age is 2 days
    report = plan(store, KEEP, "2d", now=now)
    going = {d.key for d in report.going}
    kept_types = {k for k, in store.read("MATCH (d:Dataset) WHERE d.dataset_type IN $t "
                                         "RETURN d.key", {"t": KEEP})}
    assert going == {k for k, end in ends.items() if end < cut} - kept_types
    assert 0 < len(going) < len(ends)
    assert all(d.made < cut for d in report.going)
    # nothing is older than 1000 weeks
    assert not plan(store, KEEP, "1000w", now=APRIL).going


def test_a_dataset_no_quantum_made_is_as_old_as_its_run(tmp_path):
    repo = demo(tmp_path / "repo")
    loose, orphan = f"dataset:{uuid.uuid4()}", f"dataset:{uuid.uuid4()}"
    with open_store(repo) as store:
        batch = GraphBatch("datasets no quantum made")
        batch.add_node(loose, dataset_type="calexp", run=DR1, size=123,
                       data_id="detector=9,instrument=DemoCam,visit=2026030100001")
        batch.add_node(orphan, dataset_type="calexp", run="DemoCam/by-hand", size=5,
                       data_id="detector=9,instrument=DemoCam,visit=2026030100002")
        store.write(batch)
        last_dr1 = store.read("MATCH (q:Quantum {run: $r}) RETURN max(q.end)", {"r": DR1})[0][0]
        report = plan(store, KEEP, "1d", now=APRIL)
        made = {d.key: d.made for d in report.going}
        assert made[loose] == last_dr1 and orphan not in made
        assert report.age_unknown["calexp"] == 1
        # tombstones are never listed again
        calexps = sorted(k for k in made if k != loose)[:4]
        make_tombstones(store, calexps)
        again = {d.key for d in plan(store, KEEP, "1d", now=APRIL).going}
        assert again == set(made) - set(calexps)


def test_a_dry_run_writes_nothing(repo, store):
    before = snapshot(store)
    ran = run("retain", "--repo", repo, "--keep", "deepCoadd,raw", "--older-than", "1d",
              "--dry-run", "--json", check=True)
    report = json.loads(ran.stdout)
    assert report["dry_run"] and report["count"] == len(report["datasets"]) > 0
    table = run("retain", "--repo", repo, "--keep", "deepCoadd", "--keep", "raw",
                "--older-than", "1d", "--dry-run", check=True).stdout
    assert "What stays" in table and "│ total " in table
    refused = run("retain", "--repo", repo, "--keep", "deepCoadd", "--older-than", "1d")
    assert refused.returncode == 2 and "--reason is needed" in refused.stderr
    bad = run("retain", "--repo", repo, "--keep", "deepCoadd", "--older-than", "3 months",
              "--dry-run")
    assert bad.returncode == 2 and "--older-than '3 months' is not a length" in bad.stderr
    assert snapshot(store) == before


def test_a_real_run_deletes_as_lineage_delete_does(tmp_path):
    """Intermediates feed the kept coadds: refused unless forced; then tombstones."""
    repo = demo(tmp_path / "repo")
    report = json.loads(run("retain", "--repo", repo, "--keep", "deepCoadd,raw",
                            "--older-than", "1d", "--dry-run", "--json", check=True).stdout)
    refused = run("retain", "--repo", repo, "--keep", "deepCoadd,raw", "--older-than", "1d",
                  "--reason", "DR1 intermediates", "--by", "ops")
    assert refused.returncode == 2 and "live datasets outside the deletion" in refused.stderr
    done = json.loads(run("retain", "--repo", repo, "--keep", "deepCoadd,raw", "--older-than",
                          "1d", "--reason", "DR1 intermediates", "--by", "ops", "--force",
                          "--json", check=True).stdout)
    going = {d["key"] for d in report["datasets"]}
    assert not done["dry_run"] and done["deletion"]["deleted"] == len(going)
    with open_store(repo) as store:
        deleted = {k for k, in store.read("MATCH (d:Dataset) WHERE d.deleted_at IS NOT NULL "
                                          "AND d.deleted_by = 'ops' RETURN d.key")}
    assert deleted == going
    # nothing is left to go
    again = json.loads(run("retain", "--repo", repo, "--keep", "deepCoadd,raw", "--older-than",
                           "1d", "--dry-run", "--json", check=True).stdout)
    assert again["count"] == 0


@pytest.mark.parametrize("text, seconds", [("90d", 90 * 86400), ("12h", 43200),
                                           ("2w", 14 * 86400), ("30m", 1800), ("1.5d", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["90", "d", "3 months", "-2d", "1y", ""])
def test_not_durations(text):
    with pytest.raises(UserError, match="not a length of time") as err:
        parse_duration(text, field="older_than")
    assert err.value.field == "older_than"

"""Flags and contamination propagation (LDF101, LDF102) on every engine.

Expected answers come from the graph's own export (networkx) or from the
survey plan (which visit's detectors fall on which patch), never from the
code under test.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction

import networkx as nx
import pytest

from lineage import flags
from lineage.demo import default_visit, generate, plan_survey, release_runs
from lineage.store.records import iter_records
from lineage.ingest import write_units
from lineage.core.model import ModelError

from .conftest import SMALL

VISIT = default_visit(SMALL)
EVIDENCE = "https://jira.example.org/browse/DM-1228"


def _flag(store, selector, **kw):
    args = dict(verdict="bad", reason="satellite trail", evidence=EVIDENCE, by="alice")
    args.update(kw)
    return flags.flag(store, selector, **args)


def _exported(store):
    """Lineage graph, node properties and IDENTIFIED_BY/PART_OF, from `lineage export`."""
    g, props, ident, part_of = nx.DiGraph(), {}, {}, {}
    for rec in iter_records(store):
        if "node" in rec:
            props[rec["node"]] = rec["props"]
        elif rec["edge"] in ("INPUT_TO", "PRODUCED"):
            g.add_edge(rec["src"], rec["dst"])
        elif rec["edge"] == "IDENTIFIED_BY":
            ident.setdefault(rec["src"], set()).add(rec["dst"])
        elif rec["edge"] == "PART_OF":
            part_of.setdefault(rec["src"], set()).add(rec["dst"])
    return g, props, ident, part_of


def _seeds_of_visit(ident, part_of, visit):
    vkey = f"unit:visit:DemoCam/{visit}"
    out = set()
    for d, units in ident.items():
        if not d.startswith("dataset:"):
            continue
        if any(u == vkey or vkey in part_of.get(u, ()) for u in units):
            out.add(d)
    return out


def _coadd(store, band, patch, release="DR1"):
    rows = store.read("MATCH (d:Dataset) WHERE d.dataset_type = 'deepCoadd' AND d.data_id = $i "
                      "AND d.run = $r RETURN d.key",
                      {"i": f"band={band},patch={patch},skymap=demo_rings,tract=9813",
                       "r": release_runs(release)})
    return rows[0][0]


def test_contaminated_set_equals_export_downstream(demo_store):
    report = _flag(demo_store, f"visit={VISIT}")
    marks = flags.marks(demo_store, report["flag"])
    g, props, ident, part_of = _exported(demo_store)
    seeds = _seeds_of_visit(ident, part_of, VISIT)
    dist = nx.multi_source_dijkstra_path_length(g, seeds)
    # a dataset k quanta downstream is 2k edges away; a quantum 2k-1
    expected = {n: (d + 1) // 2 for n, d in dist.items()}
    assert set(marks) == set(expected)
    assert {k: s for k, (s, _) in marks.items()} == expected
    assert report["blast_radius"]["datasets"] == sum(1 for k in expected if k.startswith("dataset:"))
    counts = {}
    for k in expected:
        if k.startswith("dataset:"):
            t = props[k]["dataset_type"]
            counts[t] = counts.get(t, 0) + 1
    assert report["blast_radius"]["by_dataset_type"] == dict(sorted(counts.items()))
    assert all(marks[s] == (0, 1.0) for s in seeds)


def _calexps_on_patch(survey, visit_id, patch):
    v = next(v for v in survey.visits if v.id == visit_id)
    return sum(1 for d in v.detectors if (9813, patch) in v.patches[d])


def test_coadd_fraction_is_share_of_calexps(demo_store):
    """Hand computation from the survey plan: the coadd's calexps that came from the visit."""
    survey = plan_survey(SMALL)
    band = next(v.band for v in survey.visits if v.id == VISIT)
    report = _flag(demo_store, f"visit={VISIT}")
    key = report["flag"]
    marks = flags.marks(demo_store, key)
    checked = 0
    for patch in range(9):
        mine = _calexps_on_patch(survey, VISIT, patch)
        if not mine:
            continue
        total = sum(_calexps_on_patch(survey, v.id, patch) for v in survey.visits if v.band == band)
        coadd = _coadd(demo_store, band, patch)
        assert marks[coadd][1] == pytest.approx(float(Fraction(mine, total)))
        answer = flags.contamination(demo_store, coadd)
        assert answer["contaminated"] and answer["by"][0]["flag"] == key
        assert answer["by"][0]["steps"] == 1
        checked += 1
    assert checked >= 2
    # patch 3, band u, DR1: visits ...01 (2 calexps on it), ...07 (2), ...13 (2): 2/6
    assert marks[_coadd(demo_store, "u", 3)][1] == pytest.approx(1 / 3)
    assert marks[_coadd(demo_store, "u", 0)][1] == 1.0  # the only u visit on patch 0


def test_detector_visit_flag_weights_warps_by_calexps(demo_store):
    survey = plan_survey(SMALL)
    v = next(v for v in survey.visits if v.id == VISIT)
    det = next(d for d in v.detectors if (9813, 3) in v.patches[d])
    report = _flag(demo_store, f"visit={VISIT},detector={det}")
    marks = flags.marks(demo_store, report["flag"])
    total = sum(_calexps_on_patch(survey, w.id, 3) for w in survey.visits if w.band == v.band)
    assert marks[_coadd(demo_store, v.band, 3)][1] == pytest.approx(1 / total)
    warp = demo_store.read(
        "MATCH (d:Dataset) WHERE d.dataset_type = 'deepCoadd_directWarp' AND d.data_id = $i "
        "AND d.run = $r RETURN d.key",
        {"i": f"instrument=DemoCam,patch=3,skymap=demo_rings,tract=9813,visit={VISIT}",
         "r": release_runs("DR1")})[0][0]
    assert marks[warp] == (1, pytest.approx(1 / _calexps_on_patch(survey, VISIT, 3)))


def test_retracting_one_of_two_flags_keeps_the_other(demo_store):
    survey = plan_survey(SMALL)
    band = next(v.band for v in survey.visits if v.id == VISIT)
    other = next(v.id for v in survey.visits if v.band == band and v.id != VISIT
                 and _calexps_on_patch(survey, v.id, 3))
    coadd = _coadd(demo_store, band, 3)
    a = _flag(demo_store, f"visit={VISIT}", now="2026-11-01T10:00:00.000000Z")["flag"]
    b = _flag(demo_store, f"visit={other}", verdict="suspect",
              now="2026-11-02T10:00:00.000000Z")["flag"]
    assert {m["flag"] for m in flags.contamination(demo_store, coadd)["by"]} == {a, b}
    flags.unflag(demo_store, a, "false alarm", "bob", now="2026-11-03T10:00:00.000000Z")
    answer = flags.contamination(demo_store, coadd)
    assert answer["contaminated"] and [m["flag"] for m in answer["by"]] == [b]
    assert answer["verdict"] == "suspect"
    # a product only the retracted flag reached is clean again
    only_a = _coadd(demo_store, band, 0)
    assert not flags.contamination(demo_store, only_a)["contaminated"]
    # ... but history stays: as of before the retraction it was contaminated
    assert flags.contamination(demo_store, only_a, as_of="2026-11-02T12:00:00")["contaminated"]
    assert not flags.contamination(demo_store, only_a, as_of="2026-10-31")["contaminated"]
    assert [f["key"] for f in flags.list_flags(demo_store, as_of="2026-11-02T12:00")] == [a, b]
    assert [f["key"] for f in flags.list_flags(demo_store)] == [b]
    assert len(flags.list_flags(demo_store, include_retracted=True)) == 2
    # a release stands for the end of its processing: before any of these flags
    assert flags.list_flags(demo_store, as_of="DR2") == []
    with pytest.raises(flags.FlagError, match="already retracted"):
        flags.unflag(demo_store, a, "again", "bob")


def test_dry_run_and_bad_input_write_nothing(demo_store):
    before = demo_store.count()
    report = _flag(demo_store, f"visit={VISIT}", dry_run=True)
    assert report["blast_radius"]["datasets"] > 0 and "flag" not in report
    for kw, sel in ((dict(verdict="awful"), f"visit={VISIT}"),
                    (dict(evidence="no/such/file"), f"visit={VISIT}"),
                    (dict(reason=" "), f"visit={VISIT}"),
                    ({}, "visit=42")):
        with pytest.raises((flags.FlagError, ValueError)):
            _flag(demo_store, sel, **kw)
    assert demo_store.count() == before
    with pytest.raises(flags.FlagError, match="no flag"):
        flags.unflag(demo_store, "0123abcd", "x", "y")


def test_evidence_file_is_recorded_with_checksum(demo_store, tmp_path):
    note = tmp_path / "trail.txt"
    note.write_text("a satellite trail across detectors 0-5\n")
    key = _flag(demo_store, f"visit={VISIT}", evidence=str(note))["flag"]
    record = flags.find_flag(demo_store, key[5:13])
    assert record["evidence"] == note.resolve().as_uri()
    assert len(record["evidence_sha256"]) == 64
    assert record["time_scale"] == "utc" and record["by"] == "alice" and record["active"]


def test_blocked_input_stops_propagation(demo_store):
    survey = plan_survey(SMALL)
    band = next(v.band for v in survey.visits if v.id == VISIT)
    key = _flag(demo_store, f"visit={VISIT}")["flag"]
    coadd = _coadd(demo_store, band, 3)
    q, warp = demo_store.read(
        "MATCH (w:Dataset)-[:INPUT_TO]->(q:Quantum)-[:PRODUCED]->(c:Dataset {key: $c}) "
        "WHERE w.data_id CONTAINS $v RETURN q.key, w.key", {"c": coadd, "v": f"visit={VISIT}"})[0]
    report = flags.block_input(demo_store, warp, q, "clipped by assembleCoadd", "carol")
    assert report["recomputed"][0]["flag"] == key and report["recomputed"][0]["removed"] > 0
    marks = flags.marks(demo_store, key)
    assert coadd not in marks and q not in marks
    assert warp in marks  # the warp itself stays flagged


def test_reprocessing_plan(demo_store):
    key = _flag(demo_store, f"visit={VISIT}")["flag"]
    plan = flags.reprocessing_plan(demo_store)
    flagged = set(flags.flagged_datasets(demo_store))
    assert plan["flags"] == [key] and set(plan["excluded_datasets"]) == flagged
    marks = flags.marks(demo_store, key)
    planned = {e["quantum"] for e in plan["rerun"] + plan["dropped"]}
    assert planned == {k for k in marks if k.startswith("quantum:")}
    made_at = {}
    for n, e in enumerate(plan["rerun"]):
        assert not set(e["inputs"]) & flagged and e["order"] == n
        for d in e["inputs"]:  # every contaminated input is remade earlier in the plan
            if d in marks and d not in flagged:
                assert d in made_at
        for d in e["outputs"]:
            made_at[d] = n
    for e in plan["dropped"]:  # e.g. calibrate of the flagged visit: nothing left to run
        assert e["dropped_inputs"] or e["lost_inputs"]
    assert any(e["lost_inputs"] for e in plan["rerun"])  # e.g. mergeDetections without u
    assert f"NOT (visit IN ({VISIT}))" == plan["data_queries"]["_exclude"]
    assert "assembleCoadd" in plan["data_queries"]


def test_inputs_with_flagged_marked(demo_store):
    _flag(demo_store, f"visit={VISIT}")
    survey = plan_survey(SMALL)
    band = next(v.band for v in survey.visits if v.id == VISIT)
    rows = flags.inputs_for(demo_store, _coadd(demo_store, band, 3), types=["raw"])
    flagged = [r for r in rows if r["flagged"]]
    assert flagged and all(f"exposure={VISIT}" in r["data_id"] for r in flagged)
    assert all(f"exposure={VISIT}" not in r["data_id"] for r in rows if not r["flagged"])
    assert len(rows) == sum(_calexps_on_patch(survey, v.id, 3)
                            for v in survey.visits if v.band == band)


def test_export_import_round_trip(demo_store, engine, small_units):
    survey = plan_survey(SMALL)
    band = next(v.band for v in survey.visits if v.id == VISIT)
    other = next(v.id for v in survey.visits if v.band == band and v.id != VISIT)
    a = _flag(demo_store, f"visit={VISIT}", authority="DRB")["flag"]
    b = _flag(demo_store, f"visit={other}", verdict="suspect")["flag"]
    flags.unflag(demo_store, a, "re-reviewed", "bob")
    c = _flag(demo_store, f"visit={VISIT},detector=1")["flag"]
    out = io.StringIO()
    flags.export_flags(demo_store, out)
    text = out.getvalue()

    target = engine.new()
    write_units(target, small_units, show_progress=False)
    report = flags.import_flags(target, io.StringIO(text), "flags.jsonl")
    assert report["flags"] == 3
    for key in (a, b, c):
        assert flags.marks(target, key) == flags.marks(demo_store, key)
    again = io.StringIO()
    flags.export_flags(target, again)
    assert again.getvalue() == text
    coadd = _coadd(target, band, 3)
    assert flags.contamination(target, coadd) == flags.contamination(demo_store, coadd)


def test_malformed_flags_file_names_the_line(demo_store, engine, small_units):
    _flag(demo_store, f"visit={VISIT}")
    out = io.StringIO()
    flags.export_flags(demo_store, out)
    lines = out.getvalue().splitlines()
    target = engine.new()
    write_units(target, small_units, show_progress=False)
    before = target.count()
    bad = lines[:2] + ['{"node": "dataset:x", "kind": "Dataset", "props": {}}'] + lines[2:]
    with pytest.raises(ModelError, match=r"f\.jsonl: line 3: .*Flag nodes only"):
        flags.import_flags(target, io.StringIO("\n".join(bad)), "f.jsonl")
    with pytest.raises(ModelError, match=r"line 2: not JSON"):
        flags.import_flags(target, io.StringIO(lines[0] + "\n{oops\n"), "f.jsonl")
    dangling = lines[:1] + [json.dumps({"edge": "FLAGS", "src": json.loads(lines[0])["node"],
                                        "dst": "dataset:00000000-0000-0000-0000-000000000000",
                                        "props": {}})]
    with pytest.raises(ModelError, match="neither in the input nor stored"):
        flags.import_flags(target, io.StringIO("\n".join(dangling)), "f.jsonl")
    assert target.count() == before


def test_recompute_picks_up_new_processing(demo_store):
    """Data processed after the flag: new datasets of the visit become flagged, new
    products downstream of flagged data become contaminated."""
    from lineage.core.model import GraphBatch, Rel, dataset_key, quantum_key
    key = _flag(demo_store, f"visit={VISIT}")["flag"]
    calexp = demo_store.read(
        "MATCH (d:Dataset) WHERE d.dataset_type = 'calexp' AND d.data_id CONTAINS $v "
        "RETURN d.key ORDER BY d.key LIMIT 1", {"v": f"visit={VISIT}"})[0][0]
    b = GraphBatch("DR3 reprocessing of one calexp")
    new_calexp, new_q, product = (dataset_key("00000000-0000-0000-0000-0000000000d3"),
                                  quantum_key("00000000-0000-0000-0000-0000000000a3"),
                                  dataset_key("00000000-0000-0000-0000-0000000000b3"))
    b.add_node(new_calexp, dataset_type="calexp", data_id=f"detector=0,visit={VISIT}", run="DR3")
    b.add_edge(Rel.IDENTIFIED_BY, new_calexp, f"unit:visit:DemoCam/{VISIT}")
    b.add_node(new_q, task="makeCatalog", data_id=f"visit={VISIT}", run="DR3")
    b.add_node(product, dataset_type="visit_catalog", data_id=f"visit={VISIT}", run="DR3")
    b.add_edge(Rel.INPUT_TO, calexp, new_q)
    b.add_edge(Rel.PRODUCED, new_q, product)
    demo_store.write(b)
    assert product not in flags.marks(demo_store, key)
    report = flags.recompute(demo_store, key)
    assert report["newly_flagged"] == 1 and report["removed"] == 0
    marks = flags.marks(demo_store, key)
    assert marks[new_calexp] == (0, 1.0) and marks[product] == (1, 1.0) and marks[new_q] == (1, 1.0)
    assert new_calexp in flags.flagged_datasets(demo_store)


def test_embedded_walk_and_marks_seek_nodes_by_id(tmp_path):
    """On the embedded engine the walk and the mark write find nodes by internal id.

    FalkorDB seeks by id only when the id is a plain variable; for an
    expression (``id(a) = r[0]``) it scans the whole label per row, which
    turns a one-second flag into many minutes at 10^6 nodes.  Tests on a
    small graph cannot see that in their timing, so check the plans.
    """
    from lineage.flags import queries
    from lineage.flags.propagation import Propagation, mark_statements
    from lineage.store.repo import init_repo, open_store
    from lineage.store.falkordb_server import FalkorServer

    root = tmp_path / "repo"
    init_repo(root)
    store = open_store(root)
    try:
        write_units(store, [next(iter(generate(SMALL)))],
                    show_progress=False)
        class Recorder:  # the walk's queries as they would be sent
            dialect = store.dialect
            sent: list = []

            def read(self, query, params=None):
                self.sent.append(query)
                return []
        recorder = Recorder()
        for walk_query in (queries.steps_from_datasets, queries.steps_from_quanta,
                           queries.dataset_details):
            walk_query(recorder, [1])
        for walk_query in (queries.science_input_counts, queries.input_weights):
            walk_query(recorder, [1], [])
        p = Propagation({}, steps={1: 0, 2: 1}, quantum_refs={2}, fraction={1: 1.0, 2: 0.5})
        plans = [store.graph.explain(q, {"refs": [1], "calib": [], "keys": ["x"]})
                 for q in recorder.sent]
        plans += [store.graph.explain(st.query, st.params) for st in mark_statements(store, p, "flag:x")]
        assert len(plans) == 7
        for plan in plans:
            text = str(plan)
            assert "ID Scan" in text and "Node By Label Scan" not in text, text
    finally:
        store.close()
        FalkorServer(root).stop()

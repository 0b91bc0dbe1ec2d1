"""Butler query expressions as selectors and ``lineage visits`` conditions (docs/lineage.md,
"Butler query expressions"), parsed by daf_butler's own parser.

Every form is checked against the answer of the older selector syntax for the same set
(``dim=value`` pairs and node keys, combined here with Python sets), on the demo survey
and on the real Butler exports in ../shared; the HSC g-band visits are counted from the
export YAML itself.  Without daf_butler (a subprocess where ``lsst`` cannot be imported)
the older syntax keeps working and a Butler expression says to install the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lineage.core.conditions import parse_visit_selection
from lineage.core.selector import parse_selector
from lineage.core.errors import UnknownName
from lineage.core.text import SelectorError
from lineage.dataunits.resolve import resolve
from lineage.dataunits.visits import select_visits, visit_table
from lineage.diff.releases import DiffFilter
from lineage.ingest.driver import ingest
from lineage.store.repo import init_repo, open_store

from .butler_files import entries
from .cli_runner import run

pytest.importorskip("lsst.daf.butler")

ROOT = Path(__file__).resolve().parents[1]


def found(store, text: str) -> set[str]:
    return set(resolve(store, parse_selector(text)))


def union(store, *texts: str) -> set[str]:
    return set().union(*(found(store, t) for t in texts))


# --- the demo survey -----------------------------------------------------------------------

@pytest.fixture
def demo_facts(demo_store_ro):
    """Visits, detectors, exposures and datasets of the demo store."""
    store = demo_store_ro
    visits = sorted(int(v) for v in visit_table(store)["visit"])
    detectors = sorted(int(r[0]) for r in store.read(
        "MATCH (u:DataUnit {dimension: 'detector'}) RETURN u.value"))
    exposures = store.read("MATCH (u:DataUnit {dimension: 'exposure'}) "
                           "RETURN u.key, u.observation_type")
    datasets = {r[0] for r in store.read("MATCH (d:Dataset) RETURN d.key")}
    return {"visits": visits, "detectors": detectors, "exposures": exposures,
            "datasets": datasets}


def test_and_with_an_in_range_is_the_union_of_the_pairs(demo_store_ro, demo_facts):
    visit, detectors = demo_facts["visits"][1], demo_facts["detectors"][:3]
    low, high = detectors[0], detectors[-1]
    got = found(demo_store_ro, f"visit = {visit} AND detector IN ({low}..{high})")
    assert got == union(demo_store_ro, *(f"visit={visit},detector={d}" for d in detectors))
    assert got  # the stop is inclusive: three detectors, each with datasets
    assert got != found(demo_store_ro, f"visit={visit}")


@pytest.mark.parametrize("butler, pairs", [
    ("instrument = 'DemoCam'", ["instrument=DemoCam"]),
    ("band = 'g'", ["band=g"]),
    ("band = g", ["band=g"]),
    ("band IN (g, 'r')", ["band=g", "band=r"]),
    ("band = g OR band = r", ["band=g", "band=r"]),
    ("instrument = 'DemoCam' AND band = g", ["instrument=DemoCam,band=g"]),
    ("(band = g OR band = r) AND tract = 9813", ["band=g,tract=9813", "band=r,tract=9813"]),
])
def test_each_form_equals_the_pair_syntax(demo_store_ro, butler, pairs):
    assert found(demo_store_ro, butler) == union(demo_store_ro, *pairs)


def test_a_conjunction_of_equalities_becomes_pairs():
    sel = parse_selector("instrument = 'HSC' AND visit = 1228 AND band = g")
    assert sel.pairs == (("instrument", "HSC"), ("visit", "1228"), ("band", "g"))
    assert sel.expression is None
    assert parse_selector("visit = 1228 OR visit = 1230").expression is not None
    # the pair syntax keeps its values: a dotted value, a value with a space
    assert parse_selector("physical_filter=g.x").pairs == (("physical_filter", "g.x"),)
    assert parse_selector("visit=a b").pairs == (("visit", "a b"),)


def test_not_is_the_complement_and_not_equal_the_other_values(demo_store_ro, demo_facts):
    g = found(demo_store_ro, "band=g")
    assert found(demo_store_ro, "NOT band = g") == demo_facts["datasets"] - g
    other_bands = [r[0] for r in demo_store_ro.read(
        "MATCH (u:DataUnit {dimension: 'band'}) RETURN u.value") if r[0] != "g"]
    assert found(demo_store_ro, "band != g") == union(demo_store_ro,
                                                      *(f"band={b}" for b in other_bands))


def test_numeric_comparisons_and_strides(demo_store_ro, demo_facts):
    visits, detectors = demo_facts["visits"], demo_facts["detectors"]
    middle = visits[len(visits) // 2]
    later = union(demo_store_ro, *(f"visit={v}" for v in visits if v > middle))
    assert found(demo_store_ro, f"visit > {middle}") == later
    assert found(demo_store_ro, f"{middle} < visit") == later      # mirrored
    assert found(demo_store_ro, f"visit >= {middle}") == later | found(demo_store_ro,
                                                                       f"visit={middle}")
    first, last = detectors[0], detectors[-1]
    every_other = [d for d in detectors if (d - first) % 2 == 0]
    assert found(demo_store_ro, f"detector IN ({first}..{last}:2)") == union(
        demo_store_ro, *(f"detector={d}" for d in every_other))
    assert found(demo_store_ro, f"detector NOT IN ({first}..{last}:2)") == union(
        demo_store_ro, *(f"detector={d}" for d in detectors if d not in every_other))


def test_a_property_of_a_dimension(demo_store_ro, demo_facts):
    science = [k for k, kind in demo_facts["exposures"] if kind == "science"]
    assert science
    detector = demo_facts["detectors"][0]
    got = found(demo_store_ro, f"exposure.observation_type = 'science' AND detector = {detector}")
    assert got == union(demo_store_ro, *science) & found(demo_store_ro, f"detector={detector}")


def test_lineage_visits_takes_either_syntax(demo_store_ro, demo_facts):
    table = visit_table(demo_store_ro)
    g_or_r = set(table[table["band"].isin(["g", "r"])]["key"])
    assert set(select_visits(demo_store_ro, "band = g OR band = r")["key"]) == g_or_r
    assert set(select_visits(demo_store_ro, "band IN (g, r)")["key"]) == g_or_r
    good = set(table[table["seeing"] < 0.6]["key"])
    assert set(select_visits(demo_store_ro, "seeing < 0.6 arcsec")["key"]) == good
    assert set(select_visits(demo_store_ro, "visit.seeing < 0.6")["key"]) == good
    assert found(demo_store_ro, "visit[band = g OR band = r]") == union(
        demo_store_ro, "visit[band = g]", "visit[band = r]")
    first, last = demo_facts["visits"][0], demo_facts["visits"][2]
    assert len(select_visits(demo_store_ro, f"visit IN ({first}..{last}) AND NOT band = g")) \
        == len(table[(table["visit"].astype(int) <= last) & (table["band"] != "g")])


# --- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("visit = 3 AND detector == 2",
     "bad selector 'visit = 3 AND detector == 2': Syntax error at or near '=' (line: 1, pos: 25)"),
    ("band = 'g", "Unexpected character at position 7"),
    ("visit = 3 AND", "End of input reached"),
    ("visit > 3 + 1", "'3 + 1' is not a value here"),
    ("visit IN (a) AND band = g", "'a' on the right is not a value: quote it"),
    ("visit.a.b = 1 AND band = g", "write dimension.property"),
    ("visit = :v AND band = g", "':v' is not a value here"),
    (" OR ".join(["visit = 1"] * 65), "too many conditions: 65 (at most 64)"),
])
def test_parse_errors_are_one_line_with_the_position(text, message):
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_where_errors_name_the_field(repo):
    with pytest.raises(SelectorError) as err:
        DiffFilter.make(where="visit = 3 OR detector == 2")
    assert err.value.field == "where"
    assert DiffFilter.make(where="visit = 3 AND band = 'r'").pairs == (("visit", "3"),
                                                                      ("band", "r"))
    done = run("diff", "a", "b", "--where", "visit < 3 AND", "--repo", repo)
    assert done.returncode != 0
    assert done.stderr.strip() == ("lineage: error: --where 'visit < 3 AND': End of input "
                                   "reached while expecting further input")


def test_unknown_names_are_errors_naming_the_known_ones(demo_store_ro):
    with pytest.raises(UnknownName, match="no dimension 'vist'; did you mean visit"):
        found(demo_store_ro, "vist = 3 OR band = g")
    with pytest.raises(SelectorError, match="no property 'nope' on the exposure units .*"
                                            "observation_type"):
        found(demo_store_ro, "exposure.nope = 3 AND band = g")
    with pytest.raises(SelectorError, match="as a Butler expression: End of input"):
        parse_visit_selection("band = g OR")


# --- the real exports ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_repo(tmp_path_factory):
    """An embedded repository holding every real Butler export (skipped when absent)."""
    from lineage.store.falkordb_server import FalkorServer

    from .conftest import REAL_DATA
    exports = REAL_DATA / "butler_exports"
    if not exports.exists():
        pytest.skip(f"real data not present: {exports}")
    root = tmp_path_factory.mktemp("real") / "repo"
    init_repo(root)
    with open_store(root, keep=True) as store:
        summary = ingest(store, "butler-export", [exports], show_progress=False)
        assert not summary.rejected
    yield root, exports
    FalkorServer(root).stop()


def hsc_visits_of_band(exports: Path, band: str) -> set[int]:
    """The HSC visits whose physical filter has ``band``, read from the YAML files."""
    visits, filter_band = set(), {}
    files = sorted(exports.rglob("*.yaml"))
    for path in files:
        for e in entries(path, "dimension"):
            if e["element"] == "physical_filter":
                filter_band.update({(r["instrument"], r["name"]): r["band"]
                                    for r in e["records"]})
    for path in files:
        for e in entries(path, "dimension"):
            if e["element"] == "visit":
                visits.update(r["id"] for r in e["records"] if r["instrument"] == "HSC"
                              and filter_band.get(("HSC", r["physical_filter"])) == band)
    return visits


def test_the_hsc_band_query_finds_the_hsc_visits_of_the_export(real_repo):
    root, exports = real_repo
    expected = hsc_visits_of_band(exports, "g")
    assert len(expected) > 10
    for conditions in ("band = g", "band = 'g'", "band IN (g)"):
        done = run("visits", conditions, "--instrument", "HSC", "--json", "--repo", root)
        assert done.returncode == 0, done.stderr
        assert {int(r["visit"]) for r in json.loads(done.stdout)} == expected, conditions
    with open_store(root) as store:
        both = set(select_visits(store, "band = g OR band = r", "HSC")["visit"].astype(int))
    assert both == expected | hsc_visits_of_band(exports, "r")


def test_selectors_on_the_real_export(real_repo):
    root, _ = real_repo
    with open_store(root) as store:
        calexps = {k for k, t in resolve(store, parse_selector("instrument=HSC")).items()
                   if t == "calexp"}
        assert calexps
        assert found(store, "instrument = 'HSC'") == found(store, "instrument=HSC")
        r_or_i = found(store, "band = r OR band = i")
        assert r_or_i == union(store, "band=r", "band=i")
        assert calexps <= r_or_i       # the ci_hsc calexps are r- and i-band
        visit, detectors = store.read(
            "MATCH (v:DataUnit {dimension: 'visit'})<-[:IDENTIFIED_BY]-(d:Dataset "
            "{dataset_type: 'calexp'})-[:IDENTIFIED_BY]->(x:DataUnit {dimension: 'detector'}) "
            "RETURN v.value, collect(x.value) ORDER BY v.value LIMIT 1")[0]
        low = min(int(d) for d in detectors)
        got = found(store, f"instrument = 'HSC' AND visit = {visit} AND detector IN ({low}..200)")
        assert got == union(store, *(f"instrument=HSC,visit={visit},detector={d}"
                                     for d in set(detectors)))
        assert got


# --- provenance graphs ---------------------------------------------------------------------

def test_provenance_graph_units_have_their_instrument(store, provenance_qg):
    summary = ingest(store, "run", [provenance_qg], show_progress=False)
    assert not summary.rejected
    of_cam1 = {k for k, did in store.read("MATCH (d:Dataset) RETURN d.key, d.data_id")
               if did and "instrument=Cam1" in did.split(",")}
    assert of_cam1
    assert found(store, "instrument=Cam1") == of_cam1
    assert found(store, "instrument = 'Cam1' AND visit = 1") == found(store, "visit=1")
    assert found(store, "instrument = 'Cam1' AND visit = 1 AND detector IN (1..2)") == union(
        store, "visit=1,detector=1", "visit=1,detector=2")


# --- without daf_butler --------------------------------------------------------------------

BLOCK_LSST = """
import sys
class BlockLsst:
    def find_spec(self, name, path=None, target=None):
        if name == "lsst" or name.startswith("lsst."):
            raise ImportError(f"{name} is blocked for this test")
sys.meta_path.insert(0, BlockLsst())
"""


def test_without_daf_butler_the_other_syntax_works_and_butler_asks_for_the_extra(demo_repo):
    script = BLOCK_LSST + """
import json
from lineage.core.conditions import parse_visit_selection
from lineage.core.selector import parse_selector
from lineage.core.text import SelectorError
from lineage.dataunits.resolve import resolve
from lineage.store.repo import open_store
out = {}
with open_store(sys.argv[1]) as store:
    out["pairs"] = len(resolve(store, parse_selector("band=g")))
    out["conditions"] = len(parse_visit_selection("seeing < 0.6 arcsec and band = 'g'"))
for text in ("instrument = 'HSC'", "visit IN (1..4)"):
    try:
        parse_selector(text)
    except SelectorError as exc:
        out[text] = str(exc)
try:
    parse_visit_selection("band = g OR band = r")
except SelectorError as exc:
    out["visits"] = str(exc)
out["imported"] = sorted(m for m in sys.modules if m.startswith("lsst"))
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script, str(demo_repo)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["pairs"] > 0 and out["conditions"] == 2
    assert out["imported"] == []
    hint = "Butler query expressions need daf_butler: install the butler extra"
    assert out["instrument = 'HSC'"].startswith("bad selector \"instrument = 'HSC'\": ")
    assert hint in out["instrument = 'HSC'"] and hint in out["visit IN (1..4)"]
    assert hint in out["visits"] and out["visits"].startswith("bad condition")

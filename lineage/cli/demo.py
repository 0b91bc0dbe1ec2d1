"""``lineage demo``: build the demo survey into a repository and ask one question of it."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import click

from lineage.cli.common import Repo, call, json_option, repo_option
from lineage.cli.output import console, dataset_rows_table, print_json
from lineage.demo.butler import CALIB, CHAIN, RUNS, demo_butler
from lineage.demo.catalogs import write_catalogs
from lineage.demo.images import record_files, write_images
from lineage.demo.survey import SurveySpec, default_visit, generate, plan_survey
from lineage.ingest import write_units
from lineage.store.repo import CONFIG_NAME, init_repo
from lineage.traversal import traverse as query


@click.command()
@repo_option
@click.option("--visits", type=click.IntRange(min=1), default=None,
              help="Number of visits (default 100).")
@click.option("--detectors", type=click.IntRange(min=1), default=None,
              help="Detectors per visit (default 20).")
@click.option("--small", is_flag=True, help="A tiny survey (14 visits x 6 detectors).")
@click.option("--nodes", type=click.IntRange(min=1000), default=None,
              help="Size the survey for about this many nodes (benchmarks: 1000000).")
@click.option("--visit", "visit", type=int, default=None,
              help="The visit to ask about (default: one processed in every release).")
@click.option("--images/--no-images", default=None,
              help="Write a small FITS image for every calexp, so fetch and cutouts work "
                   "(docs/fetch.md; default: yes, but not with --nodes).")
@click.option("--butler", "butler", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Instead, build a real Butler repository in this new "
                                 "directory for `lineage sync` (three pipeline RUNs run by "
                                 "lsst-pipe-base's mock tasks; the butler extra).")
@json_option
def demo(repo: str, visits, detectors, small: bool, nodes, visit, images: bool | None,
         butler: Path | None, as_json: bool) -> None:
    """Build the demo survey into a repository and ask which coadds used one visit."""
    if butler is not None:
        _demo_butler(butler, as_json)
        return
    spec = SurveySpec.small() if small else SurveySpec.for_nodes(nodes) if nodes else SurveySpec()
    if visits:
        spec = replace(spec, visits=visits)
    if detectors:
        spec = replace(spec, detectors=detectors)
    if not (Path(repo) / CONFIG_NAME).exists() and "://" not in repo:
        call(init_repo, repo)
    units = list(generate(spec))
    total = sum(len(u) for u in units)
    catalogs = written = 0
    if "://" not in repo:  # the files live in the repository's datastore directory
        catalogs = call(write_catalogs, spec, units, Path(repo) / "datastore")
        if images or (images is None and not nodes):
            written = call(write_images, spec, units, Path(repo) / "datastore")
        call(record_files, units, Path(repo) / "datastore")  # real sizes and checksums
    with Repo(repo) as store:
        report = call(write_units, store, units, "demo survey", total, not as_json)
        v = visit or default_visit(spec)
        t0 = time.perf_counter()
        rows = call(query.downstream, store, f"visit={v}", types=["deepCoadd"])
        ms = (time.perf_counter() - t0) * 1000
    if as_json:
        print_json({"visit": v, "nodes_created": report.nodes_created,
                    "edges_created": report.edges_created, "catalog_files": catalogs,
                    "image_files": written,
                    "coadds": [r.as_dict() for r in rows]})
        return
    survey = plan_survey(spec)
    console().print(f"demo survey in [bold]{repo}[/bold]: {len(survey.visits)} visits x "
                    f"{spec.detectors} detectors, releases {', '.join(spec.releases)}; "
                    f"{report.nodes_created} nodes and {report.edges_created} edges new "
                    f"({report.entities_in / max(report.seconds, 1e-9):,.0f} nodes+edges/s)"
                    + (f"; {catalogs} DIA catalogs in {repo}/datastore" if catalogs else "")
                    + (f", {written} calexp images" if written else ""))
    dataset_rows_table(f"Which coadds used visit {v}?", rows,
                       f"{len(rows)} coadds, answered in {ms:.1f} ms; "
                       f"try: lineage downstream visit={v} --count --repo {repo}")


def _demo_butler(path: Path, as_json: bool) -> None:
    t0 = time.perf_counter()
    call(demo_butler, path)
    seconds = time.perf_counter() - t0
    if as_json:
        print_json({"butler": str(path), "runs": list(RUNS), "chain": CHAIN,
                    "calibration": CALIB, "seconds": round(seconds, 1)})
        return
    console().print(f"a Butler repository in [bold]{path}[/bold] ({seconds:.0f} s): RUNs "
                    f"{', '.join(RUNS)} (the first with a failed and a blocked quantum), "
                    f"each with its run_provenance; the chain {CHAIN}; the calibration "
                    f"collection {CALIB}; try: lineage sync {path}", highlight=False)

"""``lineage.Repository``: the questions of the command line as methods, for notebooks.

Open a repository as the command line does (a directory, or a ``bolt://`` URI)
and ask::

    import lineage
    with lineage.Repository("lineage-repo") as repo:
        coadds = repo.downstream("visit=2026030100001", types=["deepCoadd"])
        coadds.to_pandas()

Each method calls the library function its command calls (``downstream`` is
:func:`lineage.traversal.traverse.traverse`, ``flag`` is
:func:`lineage.flags.flag` ...), so an answer here is the answer there.
Listings come back as a :class:`~lineage.results.Result` (rows with data IDs as
mappings and times as astropy ``Time``; ``.to_pandas()``, ``.to_table()``);
single answers (a node, a flag report, a plan, a diff summary) as the dict the
command's ``--json`` prints.  Errors are the library's own
(:mod:`lineage.core.errors`): a :class:`~lineage.core.errors.UserError` for
input to fix, whose ``field`` names the argument.
"""

from __future__ import annotations

from dataclasses import asdict

from lineage.core.dataid import DataId
from lineage.core.text import SelectorError
from lineage.core.time import stored_time
from lineage.dataunits.skymaps import tract_centre, tracts_containing
from lineage.dataunits.visits import select_visits, visit_table
from lineage.diff import DiffFilter, Tolerance, diff_releases
from lineage.fetch.datastore import datastore_for, resolve
from lineage.fetch.read import get as read_dataset
from lineage.fetch.select import select
from lineage.fetch.transfer import fetch as fetch_artifacts
from lineage.flags import (as_of_time, contamination as flag_contamination, flag as write_flag,
                           inputs_for, list_flags, reprocessing_plan,
                           unflag as retract_flag)
from lineage.flags.records import contaminated as contaminated_datasets
from lineage.lightcurve import lightcurve as lightcurve_of
from lineage.lightcurve.compare import compare as compare_selections
from lineage.metrics import JobFilter, MetricError, evaluate_specs, job_blobs, job_data, jobs_where
from lineage.metrics.trend import trend
from lineage.preflight import preflight as check_predicted_graph
from lineage.retention.delete import delete_in_repository
from lineage.results import Result
from lineage.retention.gc import gc as collect_files
from lineage.retention.retain import retain as apply_retention
from lineage.search import DEFAULT_FIRST, search as search_text
from lineage.standards.identify import identify as identify_files
from lineage.standards.stamp import Stamper, provenance_of
from lineage.store.repo import open_store
from lineage.traversal import traverse as query
from lineage.traversal.show import show as show_node

DEFAULT_REPO = "lineage-repo"


class Repository:
    """A lineage repository, open for questions.

    ``path_or_uri`` is what ``--repo`` takes: a repository directory (the embedded
    engine starts when needed) or a ``bolt://`` URI.  Use it in a ``with`` block,
    or call :meth:`close` when done.  A directory that is not a repository raises
    :class:`~lineage.store.repo.RepoError`, naming it.
    """

    def __init__(self, path_or_uri=DEFAULT_REPO) -> None:
        self.target = str(path_or_uri)
        self.store = open_store(self.target)

    def close(self) -> None:
        """Close the connection (and stop the embedded engine if no one else uses it)."""
        self.store.close()

    def __enter__(self) -> "Repository":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repository({self.target!r})"

    # --- lineage ----------------------------------------------------------------------------

    def downstream(self, selector: str, types=None, depth: int | None = None,
                   collection: str | None = None, limit: int | None = None,
                   as_of: str | None = None, max_nodes: int | None = None) -> Result:
        """Datasets downstream of ``selector`` (a dataset UUID, a node key, ``visit=...``,
        ``tract=9813,patch=5,band=r`` or ``visit[seeing < 0.6 arcsec]``), sorted by type
        then data ID: ``dataset_type, data_id, run, steps, uuid``.  ``types``: only these
        dataset types (a name or a list; an unknown name is an error); ``depth``: at
        most this many processing steps away; ``collection``: only datasets in it;
        ``as_of`` (a UTC time or a release name): what existed then (docs/lineage.md);
        ``max_nodes``: stop the search after this many datasets (the result's
        ``truncated`` says whether it did).  Deleted datasets (tombstones) stay in the
        answer, ``deleted`` saying when (docs/retention.md); None for live ones."""
        return self._traverse(selector, query.DOWN, types, depth, collection, limit, as_of,
                              max_nodes)

    def upstream(self, selector: str, types=None, depth: int | None = None,
                 collection: str | None = None, limit: int | None = None,
                 as_of: str | None = None, max_nodes: int | None = None) -> Result:
        """Datasets upstream of ``selector``: what it was made from (as :meth:`downstream`)."""
        return self._traverse(selector, query.UP, types, depth, collection, limit, as_of,
                              max_nodes)

    def _traverse(self, selector, direction, types, depth, collection, limit, as_of,
                  max_nodes) -> Result:
        rows = query.traverse(self.store, selector, direction, self._types(types), depth,
                              collection, limit, at=as_of_time(self.store, as_of),
                              max_nodes=max_nodes)
        return Result(({"dataset_type": r.dataset_type, "data_id": DataId.parse(r.data_id),
                        "run": r.run, "steps": r.steps, "uuid": r.key.split(":", 1)[1],
                        "deleted": r.deleted} for r in rows),
                      f"{direction.capitalize()}stream of {selector}",
                      ["dataset_type", "data_id", "run", "steps", "uuid", "deleted"],
                      truncated=rows.truncated)

    def count(self, selector: str, direction: str = query.DOWN, types=None,
              depth: int | None = None, collection: str | None = None) -> Result:
        """How many datasets of each type lie ``direction`` (``"down"`` or ``"up"``) of
        ``selector`` (the blast radius): ``dataset_type, datasets``."""
        counts = query.count(self.store, selector, direction, self._types(types), depth,
                             collection)
        return Result(({"dataset_type": t, "datasets": n} for t, n in counts.items()),
                      f"{direction.capitalize()}stream of {selector}",
                      ["dataset_type", "datasets"])

    def explain(self, selector: str, target: str, direction: str = query.DOWN,
                depth: int | None = None) -> Result:
        """One shortest lineage path from ``selector`` to the dataset ``target`` (UUID or
        key), one row per node: ``kind, key, dataset_type, data_id, run, task, deleted``
        (a tombstone's deletion time, docs/retention.md).  Empty when no path leads there."""
        path = query.explain(self.store, selector, target, direction, depth)
        rows = []
        for key in path:
            view = show_node(self.store, key, limit=0)
            props = view["properties"]
            rows.append({"kind": view["kind"], "key": key,
                         "dataset_type": props.get("dataset_type"),
                         "data_id": DataId.parse(props.get("data_id")),
                         "run": props.get("run"), "task": props.get("task"),
                         "deleted": props.get("deleted_at")})
        return Result(rows, f"Lineage path {selector} -> {target}",
                      ["kind", "key", "dataset_type", "data_id", "run", "task", "deleted"])

    def show(self, key: str, limit: int = 25) -> dict:
        """One node (a key or dataset UUID): ``{key, kind, properties, out, in}`` with at
        most ``limit`` neighbours per direction, as ``lineage show --json``."""
        return show_node(self.store, key, limit)

    def search(self, text: str, first: int = DEFAULT_FIRST) -> Result:
        """What a typed ``text`` names (a visit ``2026030100001``, a data ID
        ``deepCoadd tract=9813,patch=40,band=r``, a dataset UUID or node key, ``flag:<uuid>``,
        a collection or release ``DR2``, a dataset type, a task), at most ``first`` hits, as
        ``lineage search`` (docs/search.md): ``kind, key, label, dataset_type, data_id, run,
        dimension, deleted`` (a deleted dataset is a hit, marked: when it was deleted); ``truncated`` when more matched, the title says how many or, when
        nothing matched, what was tried."""
        answer = search_text(self.store, text, first)
        title = answer.message or f"Search {answer.text!r}: {len(answer.hits)} of " \
                                  f"{answer.total} hits"
        return Result(({**asdict(h), "data_id": DataId.parse(h.data_id) if h.data_id else None}
                       for h in answer.hits), title,
                      ["kind", "key", "label", "dataset_type", "data_id", "run", "dimension",
                       "deleted"], truncated=answer.truncated)

    def tracts_containing(self, skymap: str, ra: float, dec: float) -> Result:
        """The tracts and patches of sky map ``skymap`` that contain (``ra``, ``dec``)
        degrees, from its geometry stored by ``lineage ingest skymap`` of its configuration,
        as ``lineage overlaps --contains RA,DEC --skymap NAME``: ``tract, patch, patch_x,
        patch_y, distance_from_centre_deg`` (tracts overlap: nearest centre first)."""
        rows = tracts_containing(self.store, skymap, ra, dec)
        return Result(rows, f"{skymap} at RA {ra}, Dec {dec}",
                      ["tract", "patch", "patch_x", "patch_y", "distance_from_centre_deg"])

    def tract_centre(self, skymap: str, tract: int) -> dict:
        """Where tract ``tract`` of sky map ``skymap`` is, as ``lineage overlaps --centre
        TRACT --skymap NAME``: ``centre_ra``, ``centre_dec`` (degrees), ``ring``,
        ``index_in_ring`` (rings sky maps), ``patch_nx``, ``patch_ny``."""
        return tract_centre(self.store, skymap, tract)

    def visits(self, conditions: str = "", instrument: str | None = None) -> Result:
        """Visits by observing conditions and telemetry (``"seeing < 0.6 arcsec and
        airmass < 1.2"``; empty: every visit), one row each with its conditions, the
        telemetry summaries of its exposure (``efd.*`` columns), and ``begin``/``end`` as
        TAI times."""
        frame = select_visits(self.store, conditions, instrument) if conditions else \
            visit_table(self.store, instrument)
        rows = _records(frame)
        for row in rows:
            for name in ("begin", "end"):
                row[name] = stored_time(row.get(name), row.get("time_scale"))
        return Result(rows, f"Visits{' where ' + conditions if conditions else ''}")

    def compare_visits(self, conditions: str, versus: str, types=None,
                       instrument: str | None = None) -> dict:
        """Two selections of visits side by side (``"seeing < 0.7"`` versus ``"seeing >=
        0.7"``): how many, the medians of their conditions, the datasets downstream of
        each by type (only ``types``, if given), the visits in both; as ``lineage visits
        CONDITIONS --versus VERSUS --json``."""
        return compare_selections(self.store, conditions, versus, self._types(types),
                                  instrument)

    # --- flags ------------------------------------------------------------------------------

    def flag(self, selector: str, verdict: str, reason: str, evidence: str, by: str,
             authority: str = "", dry_run: bool = False) -> dict:
        """Flag what ``selector`` names as ``"bad"`` or ``"suspect"`` and mark everything
        downstream as contaminated; with ``dry_run`` nothing is written.  ``evidence`` is a
        URI or a file (recorded with its SHA-256).  The report, as ``lineage flag --json``:
        ``{selector, verdict, dry_run, blast_radius, flag, created_at}``."""
        return write_flag(self.store, selector, verdict, reason, evidence, by, authority,
                          dry_run)

    def unflag(self, flag_id: str, reason: str, by: str) -> dict:
        """Retract a flag (key, UUID or a unique prefix of 8+ characters); the retraction is
        recorded on the flag, nothing is deleted.  The flag's record."""
        return retract_flag(self.store, flag_id, reason, by)

    def delete(self, selector: str | None = None, *, run: str | None = None,
               collection: str | None = None, types=None, reason: str, by: str,
               files: bool = False, dry_run: bool = False, force: bool = False,
               datastore: str | None = None) -> dict:
        """Delete the datasets ``selector``, ``run`` or ``collection`` names (of ``types``)
        as tombstones that keep their provenance (docs/retention.md), all or nothing; with
        ``files`` their files too, from the datastore (``datastore`` overrides the
        repository's) and its replicas.  Live datasets made from them refuse it unless
        ``force``; ``dry_run`` writes nothing.  The report, as ``lineage delete --json``."""
        extra = {"datastore": datastore_for(self.target, datastore)} if datastore else {}
        return delete_in_repository(self.store, self.target, selector=selector, run=run,
                                    collection=collection, types=self._types(types),
                                    reason=reason, by=by, files=files, dry_run=dry_run,
                                    force=force, show_progress=False, **extra)

    def flags(self, as_of: str | None = None, include_retracted: bool = False) -> Result:
        """Flags active now, or at ``as_of`` (an ISO date or time in UTC, or a release
        name), or every flag with ``include_retracted``; ``created_at`` and
        ``retracted_at`` as UTC times."""
        rows = list_flags(self.store, as_of, include_retracted)
        for row in rows:
            for name in ("created_at", "retracted_at"):
                row[name] = stored_time(row.get(name), "utc")
        return Result(rows, "Flags" + (f" as of {as_of}" if as_of else ""))

    def contamination(self, selector: str, as_of: str | None = None) -> dict:
        """Is one dataset or quantum contaminated, by which flags, how much: ``{key,
        contaminated, max_fraction, verdict, by: [{flag, verdict, steps, fraction}]}``."""
        return flag_contamination(self.store, selector, as_of)

    def contaminated(self, types=None, verdict: str | None = None, min_fraction: float = 0.0,
                     as_of: str | None = None) -> Result:
        """Every dataset contaminated by an active flag, one row per dataset and flag:
        ``dataset_type, data_id, run, steps, fraction, flag, verdict, reason, uuid``.  The
        fraction is the share of the dataset's science inputs that come from flagged data
        (docs/flags.md).  ``types``: only these dataset types; ``verdict``: only flags of
        it; ``min_fraction``: at least this much."""
        rows = contaminated_datasets(self.store, as_of, None, self._types(types), verdict,
                                     min_fraction or None)
        return Result(({"dataset_type": r["dataset"]["dataset_type"],
                        "data_id": DataId.parse(r["dataset"]["data_id"]),
                        "run": r["dataset"]["run"], "steps": r["steps"],
                        "fraction": r["fraction"], "flag": r["flag"], "verdict": r["verdict"],
                        "reason": r["reason"], "uuid": r["dataset"]["key"].split(":", 1)[1]}
                       for r in rows),
                      "Contaminated datasets",
                      ["dataset_type", "data_id", "run", "steps", "fraction", "flag",
                       "verdict", "reason", "uuid"])

    def inputs(self, selector: str, types=None, without_flagged: bool = False) -> Result:
        """Every input upstream of a product, flagged ones marked (``flagged``, ``flags``),
        to rebuild it with them or, with ``without_flagged``, without them:
        ``dataset_type, data_id, run, steps, flagged, flags, uuid``."""
        rows = [r for r in inputs_for(self.store, selector, self._types(types))
                if not (without_flagged and r["flagged"])]
        return Result(({"dataset_type": r["dataset_type"],
                        "data_id": DataId.parse(r["data_id"]), "run": r["run"],
                        "steps": r["steps"], "flagged": r["flagged"], "flags": r["flags"],
                        "uuid": r["uuid"]} for r in rows),
                      f"Inputs of {selector}",
                      ["dataset_type", "data_id", "run", "steps", "flagged", "flags", "uuid"])

    def plan(self, flags=None) -> dict:
        """The quanta to rerun without the flagged inputs, in dependency order (of the
        given flag ids, or of every active flag), as ``lineage flags plan --json``:
        ``{rerun, dropped, excluded_datasets, data_queries, ...}``."""
        return reprocessing_plan(self.store, list(flags) if flags else None)

    def preflight(self, path, fail_on: str | None = None) -> dict:
        """Check the predicted quantum graph file ``path`` (``pipetask qgraph
        --save-qgraph``) before the run, as ``lineage preflight --json`` reports it (data
        IDs as text here): ``{tasks, totals, quanta, gate, ...}``; each quantum's
        ``unknown_inputs``, ``flagged_inputs`` (with ``level`` and the flags' ``reason``
        and ``fraction``), ``clashes`` (outputs that exist) and ``calibrations`` (with
        ``certified``).  ``fail_on`` (``bad``, ``suspect`` or ``contaminated``) sets
        ``gate.failed`` when an input is at that level or worse (docs/preflight.md)."""
        return check_predicted_graph(self.store, path, fail_on)

    # --- releases, lightcurves, metrics -------------------------------------------------------

    def diff(self, release_a: str, release_b: str, types=(), tracts=(), bands=(),
             where: str | None = None, properties=("size",), tolerance=(),
             include_deleted: bool = False) -> dict:
        """What differs between two releases (collection or release names), as ``lineage
        diff --json`` summarises it: ``{a, b, filter, totals, by_type, by_tract_band,
        reasons, steps, visits, properties, metrics}``.  ``types``, ``tracts``, ``bands``
        and ``where`` (``dim=value,...``) filter the datasets; ``tolerance`` is a list such
        as ``["5%", "validate_drp.PA1=0.5"]``.  What a release holds excludes deleted
        datasets (docs/retention.md: one deleted since is ``removed``) unless
        ``include_deleted``."""
        flt = DiffFilter.make(self._types(types) or (), tracts, bands, where, include_deleted)
        result = diff_releases(self.store, release_a, release_b, flt, None, properties, True,
                               Tolerance.parse(tolerance), progress=False)
        return result.summary()

    def lightcurve(self, object_id: int, collection: str, datastore: str | None = None,
                   topics=None, include_deleted: bool = False) -> Result:
        """Every epoch of a DIA object in ``collection``, in time order, with its provenance
        (images, visit, conditions, telemetry, software and config of each step, flags);
        ``time`` is the epoch as a TAI time (``mjd_tai`` its MJD).  ``datastore``: where
        the catalogs are (default: the repository's).  An epoch whose catalog or image was
        deleted (docs/retention.md) is left out unless ``include_deleted``; the result's
        ``left_out_deleted`` and ``left_out_deleted_catalogs`` say how many."""
        where = datastore_for(self.target, datastore)
        frame = lightcurve_of(self.store, object_id, collection, where,
                              list(topics) if topics else None, include_deleted=include_deleted)
        rows = _records(frame)
        from astropy.time import Time   # heavy: loaded with the first lightcurve
        for row in rows:
            row["time"] = Time(row["mjd_tai"], format="mjd", scale="tai")
            row["time"].format = "isot"
        result = Result(rows, f"Lightcurve of DIA object {object_id} in {collection}")
        result.left_out_deleted = frame.attrs["left_out_deleted"]
        result.left_out_deleted_catalogs = frame.attrs["left_out_deleted_catalogs"]
        return result

    def metric_jobs(self, metric: str, operator: str, value: float, unit: str = "",
                    since=None, until=None, instrument: str | None = None,
                    filter_name: str | None = None, dataset: str | None = None,
                    software: str | None = None) -> Result:
        """Jobs whose measurement of ``metric`` satisfies ``operator value unit`` (units
        convert: 15 mas is 0.015 arcsec), e.g. ``metric_jobs("validate_drp.PA1", ">", 15,
        "mmag")``, of the jobs the filters keep; ``date`` is a time in its own scale."""
        where = JobFilter(instrument, filter_name, dataset, software, since, until)
        rows = [_dated(r.as_dict()) for r in jobs_where(self.store, metric, operator, value,
                                                        unit, where=where)]
        return Result(rows, f"Jobs where {metric} {operator} {value:g} {unit}".rstrip())

    def metric_job(self, job: str, show: str = "specs") -> Result:
        """One job (``ci_demo/9`` or ``job:ci_demo/9``): ``show="specs"`` its specifications,
        which thresholds it passes (``passed`` None: no value); ``"blobs"`` the blobs its
        measurements refer to, with name, digest, size and content (None when kept by
        digest only); ``"data"`` what it measured: the datasets, quanta and collections its
        metadata names, its instrument and band."""
        key = job if job.startswith("job:") else f"job:{job}"
        if show == "blobs":
            return Result((r._asdict() for r in job_blobs(self.store, key)),
                          f"Blobs of the measurements of {key}")
        if show == "data":
            return Result((r._asdict() for r in job_data(self.store, key)),
                          f"What {key} measured")
        if show != "specs":
            raise MetricError(f"{show!r}: not specs, blobs or data", field="show")
        return Result((r.as_dict() for r in evaluate_specs(self.store, key)),
                      f"Specifications of {key}")

    def metric_trend(self, metric: str, unit: str | None = None, since=None, until=None,
                     instrument: str | None = None, filter_name: str | None = None,
                     dataset: str | None = None, software: str | None = None) -> Result:
        """``metric`` across jobs in time order, per series, with the software changes
        between consecutive jobs (``changes``, ``changed``); ``date`` is a time in its own
        scale; values in ``unit`` (default: the metric's).  The specifications that apply
        to the metric are in the result's ``specifications``."""
        where = JobFilter(instrument, filter_name, dataset, software, since, until)
        frame = trend(self.store, metric, where, unit)
        result = Result([_dated(r) for r in _records(frame)],
                        f"{frame.attrs['metric']} ({frame.attrs['unit']}) across jobs")
        result.specifications = frame.attrs["specifications"]
        return result

    # --- data ------------------------------------------------------------------------------

    def fetch(self, selector: str, to, direction: str | None = None, types=None,
              depth: int | None = None, collection: str | None = None,
              datastore: str | None = None, dry_run: bool = False, mode: str = "copy",
              workers: int = 4, with_provenance: bool = False,
              include_deleted: bool = False) -> Result:
        """Copy (``mode`` ``"copy"``, ``"link"`` or ``"symlink"``) the files of the datasets
        ``selector`` names into the directory ``to``, checking checksums and writing
        ``to/manifest.json``; with ``direction`` (``"down"``/``"up"``) the datasets
        downstream or upstream of it.  One row per dataset: ``status, key, path, bytes``
        ...; with ``dry_run`` nothing is copied and the rows are the files that would be
        (``key, uri, size, checksum, relpath`` ...).  ``with_provenance`` writes each
        dataset's provenance into its copy (a FITS file's primary header, and a PROV-JSON
        sidecar ``FILE.prov.json`` of its upstream; docs/standards.md): ``sha256`` is then
        the written file's, ``source_sha256`` the datastore's.  A dataset not fetched raises
        :class:`~lineage.fetch.transfer.FetchError` after the others are done.  Deleted
        datasets (tombstones, docs/retention.md) are left out, and one named by its UUID is
        refused, unless ``include_deleted``."""
        where = datastore_for(self.target, datastore)
        keys = select(self.store, selector, direction, self._types(types), depth, collection,
                      include_deleted)
        if not keys:
            raise SelectorError(f"{selector}: no datasets")
        artifacts = resolve(self.store, keys, where, keep_refused=True)
        if dry_run:
            return Result((_parsed(a.as_dict()) for a in artifacts), f"Would fetch into {to}")
        stamper = Stamper(provenance_of(self.store, [a.key for a in artifacts if not a.error])
                          ) if with_provenance else None
        return Result((_parsed(r) for r in fetch_artifacts(artifacts, to, mode, workers, False,
                                                           where.describe(), stamper)),
                      f"Fetched into {to}")

    def gc(self, datastore, delete: bool = False, others=()) -> dict:
        """The files below the directory ``datastore`` that no live dataset of this
        repository or of ``others`` (``Repository`` objects: every repository using the
        datastore must be named) names, as ``lineage gc --json`` gives them: ``files``
        (``path, bytes, named_by``), ``count``, ``bytes``, ``of_tombstones``,
        ``never_named``; with ``delete`` they are removed (never one a live dataset names
        by then; ``failed`` names those that could not be)."""
        repositories = [(self.target, self.store)] + [(r.target, r.store) for r in others]
        return collect_files(repositories, datastore, delete).as_dict()

    def retain(self, keep, older_than: str, collection: str | None = None,
               dry_run: bool = True, reason: str | None = None, by: str | None = None,
               force: bool = False) -> dict:
        """What a retention rule would delete (docs/retention.md): every live dataset not of
        the types ``keep``, made more than ``older_than`` (``"90d"``) ago; as ``lineage
        retain --json``: ``by_type`` (datasets and bytes), ``provenance`` (what the
        tombstones keep), ``datasets``.  Not ``dry_run``: deleted as tombstones (``reason``
        and ``by`` recorded; ``force`` when live datasets were made from some), the
        deletion's report in ``deletion``."""
        return apply_retention(self.store, keep, older_than, collection, dry_run, reason,
                               by, force=force).as_dict()

    def identify(self, *paths) -> Result:
        """Which dataset each file is, as ``lineage identify`` answers (docs/standards.md):
        ``file, verdict`` (``matches``, ``differs``, ``named``, ``unknown``), ``by``
        (``header`` or ``checksum``), ``key, dataset_type, data_id, run, note``."""
        answers = identify_files(self.store, paths)
        return Result((_parsed(a.as_dict()) for a in answers),
                      f"Identified {len(answers)} files",
                      ["file", "verdict", "by", "key", "dataset_type", "data_id", "run", "note"])

    def get(self, dataset, **selection):
        """A dataset (UUID, key, or a row of a result) as a Python object, reading only
        what ``selection`` asks for: Parquet as a DataFrame (``columns=``, ``rows=``,
        ``where=``), FITS tables as an astropy Table, FITS images whole or as a cutout
        (``box=`` or ``sky=`` with ``size=``) (:func:`lineage.fetch.read.get`)."""
        if isinstance(dataset, dict) and "uuid" in dataset:
            dataset = dataset["uuid"]
        return read_dataset(dataset, store=self.store, repo=self.target, **selection)

    # --- shared --------------------------------------------------------------------------

    @staticmethod
    def _types(types) -> list[str] | None:
        """``types`` (a name, or names) as a list.  The library functions check each name
        against the repository's dataset types: one it does not know is an
        :class:`~lineage.core.errors.UnknownName` (field ``types``), so a wrong case does
        not silently answer nothing."""
        if not types:
            return None
        return [types] if isinstance(types, str) else list(types)


def _records(frame) -> list[dict]:
    """A DataFrame's rows as dicts, NaN as None."""
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _parsed(row: dict) -> dict:
    """A row with its ``data_id`` text (if any) as a :class:`DataId`."""
    if isinstance(row.get("data_id"), str):
        row["data_id"] = DataId.parse(row["data_id"])
    return row


def _dated(row: dict) -> dict:
    """A metric job row with its ``date`` as a time in its ``time_scale``."""
    row["date"] = stored_time(row.get("date"), row.get("time_scale"))
    return row

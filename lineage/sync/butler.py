"""The Butler side of ``lineage sync``: open a repository read-only, check its dimension
universe, and turn its live records into the entries a Butler export YAML holds
(:mod:`lineage.ingest.butler_yaml`: ``Line``, ``Region``, ``Timespan``), so that the export
builder (:mod:`lineage.ingest.formats.butler_export`) makes the graph from them unchanged.

daf_butler is imported inside :func:`open_source` only: importing it takes 1 to 2 s, which
no other command should pay.  The calls used, and why each (``limit=None``,
``explain=False``, which elements have records), are in ``docs/notes/butler-api-facts.md``.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field

from lineage.core.butler_repo import source_name
from lineage.core.errors import UserError, first_line
from lineage.ingest.butler_yaml import Line, Region, Timespan
from lineage.sync import queries

#: Remote schemes a dataset's ``uri`` may keep (a local file outside the datastore may not).
REMOTE_SCHEMES = ("s3", "gs", "https", "http")
#: ``butler_attributes`` entries of the registry schema ButlerSource.sql_rows reads.
SQL_SCHEMA = {
    "version:lsst.daf.butler.registry.datasets.byDimensions._manager."
    "ByDimensionsDatasetRecordStorageManagerUUID": "2.0.0",
    "version:lsst.daf.butler.registry.collections.synthIntKey.SynthIntKeyCollectionManager":
        "2.0.0",
    "version:lsst.daf.butler.registry.opaque.ByNameOpaqueTableStorageManager": "0.2.0",
}
#: The component a datastore record of a whole dataset has (daf_butler's NULLSTR).
NULLSTR = "__NULL_STRING__"
#: The dataset type that holds a finalized RUN's provenance quantum graph (pipe_base's name).
PROVENANCE_TYPE = "run_provenance"


class SyncError(UserError):
    """A Butler repository ``lineage sync`` cannot read: the message names it and says why."""


def line(**fields) -> Line:
    """An export entry (a :class:`Line` without a line number: it comes from no file)."""
    entry = Line()
    entry.update(fields)
    return entry


@dataclass
class Collection:
    """One collection as the Butler holds it now."""

    name: str
    type: str                   #: RUN, TAGGED, CHAINED or CALIBRATION
    doc: str
    children: list[str] = field(default_factory=list)     #: CHAINED: in search order
    dataset_types: list[str] = field(default_factory=list)  #: the registry's summary


@dataclass
class RunDatasets:
    """The datasets of one RUN as export entries, with what the sync keeps of them."""

    entries: list[Line]
    ids: set[str]                           #: their UUIDs
    counts: dict[str, int]                  #: datasets per dataset type
    skipped: list[str] = field(default_factory=list)


def import_ahead() -> threading.Thread:
    """Start importing daf_butler in a thread (1 to 2 s, mostly Python) while the caller
    does something that waits, such as starting the engine; :func:`open_source`'s own
    import then finds it done, or waits for it.  A missing daf_butler is left for
    :func:`open_source` to report."""
    def load() -> None:
        try:
            importlib.import_module("lsst.daf.butler")
        except ImportError:
            pass
    thread = threading.Thread(target=load, name="lineage-import-butler")
    thread.start()
    return thread


def open_source(repo: str) -> "ButlerSource":
    """The Butler at ``repo``, opened read-only; :class:`SyncError` (one line naming it)
    when it is missing, not a Butler, unreadable, or of a dimension universe this
    daf_butler does not know.  Nothing is created or written in it either way."""
    name = source_name(repo)
    if "://" not in str(repo) and not os.path.exists(repo):
        raise SyncError(f"{name}: no such Butler repository (no such file or directory)")
    try:
        from lsst.daf.butler import Butler, DimensionUniverse
    except ImportError:
        raise SyncError("lineage sync needs lsst-daf-butler: pip install "
                        "'survey-lineage[butler]'") from None
    quiet = logging.getLogger("lsst.daf.butler")
    level, quiet.level = quiet.level, logging.CRITICAL  # it logs its failure besides raising it
    try:
        butler = Butler.from_config(str(repo), writeable=False)
    except Exception as exc:  # noqa: BLE001 - daf_butler raises whatever its layers raise
        raise SyncError(f"{name}: not a readable Butler repository: {type(exc).__name__}: "
                        f"{first_line(exc)}") from None
    finally:
        quiet.level = level
    universe, known = butler.dimensions, DimensionUniverse()
    if universe.namespace != known.namespace or universe.version > known.version:
        butler.close()
        raise SyncError(f"{name}: dimension universe {universe.namespace} version "
                        f"{universe.version} is unknown to this daf_butler (it knows "
                        f"{known.namespace} up to version {known.version})")
    return ButlerSource(name, butler)


class ButlerSource:
    """An open, read-only Butler and the reads ``lineage sync`` makes of it."""

    def __init__(self, name: str, butler) -> None:
        self.name = name
        self.butler = butler
        self.universe = f"{butler.dimensions.namespace} {butler.dimensions.version}"
        self._sql_schema: bool | None = None   #: whether sql_rows may read (checked once)

    def close(self) -> None:
        self.butler.close()

    # --- cheap reads: what is there --------------------------------------------------

    def collections(self, patterns) -> list[Collection]:
        """Collections matching ``patterns`` (globs), in the registry's order, with the
        dataset types each holds (its summary)."""
        infos = self.butler.collections.query_info(
            list(patterns), include_chains=True, include_doc=True, include_summary=True)
        return [Collection(i.name, i.type.name, i.doc or "", list(i.children or ()),
                           sorted(i.dataset_types or ())) for i in infos]

    def check_where(self, where: str) -> None:
        """Refuse a Butler query expression the Butler refuses (:class:`SyncError` naming
        the field ``where``), before anything is read or written."""
        try:
            self.butler.query_data_ids([], where=where, limit=1, explain=False)
        except Exception as exc:  # noqa: BLE001 - InvalidQueryError and the parser's own
            raise SyncError(f"{where!r}: the Butler refuses it: {first_line(exc)}",
                            field="where") from None

    def provenance(self, runs) -> dict[str, str]:
        """RUN -> the UUID of its ``run_provenance`` dataset (finalized RUNs only)."""
        from lsst.daf.butler.registry import MissingDatasetTypeError
        runs = list(runs)
        if not runs:
            return {}
        try:
            refs = self.butler.query_datasets(PROVENANCE_TYPE, collections=runs,
                                              find_first=False, limit=None, explain=False)
        except MissingDatasetTypeError:   # no RUN was ever finalized
            return {}
        return {ref.run: str(ref.id) for ref in refs}

    def provenance_uri(self, run: str) -> str:
        """Where the ``run_provenance`` of ``run`` is (a URI pipe_base's reader opens)."""
        return str(self.butler.getURI(PROVENANCE_TYPE, collections=run))

    def count(self, dataset_type: str, runs, where: str = "") -> int:
        """How many datasets of ``dataset_type`` the ``runs`` hold (passing ``where``)."""
        with self.butler.query() as q:
            results = q.datasets(dataset_type, collections=list(runs), find_first=False)
            if where:
                results = results.where(where)
            return results.count()

    def runs_ingested_since(self, runs, since) -> set[str]:
        """Those of ``runs`` with a dataset ingested after ``since`` (astropy Time)."""
        import warnings
        from erfa import ErfaWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ErfaWarning)  # dates past the leap-second table
            refs = self.butler.query_all_datasets(list(runs), find_first=False, limit=None,
                                                  where="ingest_date > since",
                                                  bind={"since": since})
        return {ref.run for ref in refs}

    # --- the records, as export entries ------------------------------------------------

    def dimension_entries(self) -> list[Line]:
        """One ``dimension`` entry per element of the universe that has records (its own
        table, or a union of another's as ``band`` is; sky pixels have none)."""
        entries = []
        for element in self.butler.dimensions.getStaticElements():
            if not (element.has_own_table or element.implied_union_target is not None):
                continue
            records = self.butler.query_dimension_records(element.name, limit=None,
                                                          explain=False)
            if records:
                entries.append(line(type="dimension", element=element.name,
                                    records=[_record(r.toDict()) for r in records]))
        return entries

    def dataset_type_entries(self) -> list[Line]:
        return [line(type="dataset_type", name=t.name, dimensions=list(t.dimensions.names),
                     storage_class=t.storageClass_name, is_calibration=t.isCalibration())
                for t in sorted(self.butler.registry.queryDatasetTypes(),
                                key=lambda t: t.name)]

    def collection_entry(self, collection: Collection) -> Line:
        return line(type="collection", name=collection.name,
                    collection_type=collection.type, doc=collection.doc or None,
                    children=list(collection.children) or None)

    def run_datasets(self, run: str, where: str = "") -> RunDatasets:
        """Every dataset of ``run`` (passing ``where``) with its file: ``path`` below the
        datastore root, else ``uri`` when remote; a local file elsewhere is left out and
        said.  Read with SQL when the registry's schema allows (:meth:`sql_rows`), else
        through the public API."""
        rows = self.sql_rows(run) if not where else None
        if rows is None:
            refs = self.butler.query_all_datasets(run, find_first=False, where=where,
                                                  limit=None)
            files = self.files(refs)
            rows = [(ref.datasetType.name, ref.id, _required(ref.dataId), files.get(ref.id))
                    for ref in refs]
        root = getattr(self.butler._datastore, "root", None)  # a FileDatastore's root
        by_type: dict[str, list[Line]] = {}
        skipped = []
        for dataset_type, dataset_id, required, uri in rows:
            where_file = {}
            if isinstance(uri, str):
                where_file["path"] = uri
            elif uri is not None:
                relative = uri.relative_to(root) if root is not None else None
                if relative:
                    where_file["path"] = relative
                elif uri.scheme in REMOTE_SCHEMES:
                    where_file["uri"] = str(uri)
                else:
                    skipped.append(f"dataset {dataset_id} ({dataset_type}): its file "
                                   f"{uri} is outside the datastore; not recorded")
            by_type.setdefault(dataset_type, []).append(
                line(dataset_id=[dataset_id], data_id=[required], **where_file))
        entries = [line(type="dataset", dataset_type=t, run=run, records=records)
                   for t, records in sorted(by_type.items())]
        return RunDatasets(entries, {str(row[1]) for row in rows},
                           {t: len(r) for t, r in by_type.items()}, skipped)

    def sql_rows(self, run: str) -> list[tuple] | None:
        """``(dataset type, UUID, required data ID, file)`` of every dataset of ``run``
        (the file as :meth:`files` gives it, None without one), read with SQL through the
        registry's own connection: 50,000 datasets and their files in 0.5 s, where
        ``query_all_datasets`` and ``files`` take 1.5 s, building a ``DatasetRef`` each.

        These tables are daf_butler's private schema, so this runs only on a SQLite
        registry whose managers are the versions in :data:`SQL_SCHEMA`, with a
        FileDatastore whose records are in ``file_datastore_records``; otherwise it
        returns None and the caller uses the public API.  ``tests/test_sync.py`` checks
        that both give the same entries."""
        import sqlalchemy
        if not self._sql_schema_known():
            return None
        db = self.butler._registry._db
        text = sqlalchemy.text
        from lsst.daf.butler import CollectionType
        with db.query(text(queries.SQL_RUN_ID),
                      {"run": run, "type": CollectionType.RUN.value}) as result:
            found = result.fetchall()
        if len(found) != 1:
            return None
        run_id = found[0][0]
        with db.query(text(queries.SQL_DATASET_TYPES)) as result:
            types = result.fetchall()
        rows = []
        for type_id, name, tags in types:
            names = list(self.butler.get_dataset_type(name).dimensions.required)
            columns = "".join(f', t."{n}"' for n in names)
            with db.query(text(queries.SQL_RUN_DATASETS.format(columns=columns, tags=tags)),
                          {"run_id": run_id, "type_id": type_id}) as result:
                rows.extend((name, uuid.UUID(hex=row[0]), dict(zip(names, row[1:])))
                            for row in result)
        files = {}
        with db.query(text(queries.SQL_RUN_FILES),
                      {"run_id": run_id, "primary": NULLSTR}) as result:
            for dataset_id, path in result:
                files[uuid.UUID(hex=dataset_id)] = self._file(path)
        return [(name, dataset_id, required, files.get(dataset_id))
                for name, dataset_id, required in rows]

    def _sql_schema_known(self) -> bool:
        """Whether :meth:`sql_rows` knows this registry's schema (checked once)."""
        if self._sql_schema is None:
            import sqlalchemy
            db = self.butler._registry._db
            datastore = self.butler._datastore
            known = (db._engine.dialect.name == "sqlite"
                     and type(datastore).__name__ == "FileDatastore"
                     and getattr(getattr(datastore, "_table", None), "name", None)
                     == "file_datastore_records")
            if known:
                with db.query(sqlalchemy.text(queries.SQL_ATTRIBUTES)) as result:
                    attributes = dict(result.fetchall())
                known = all(attributes.get(k) == v for k, v in SQL_SCHEMA.items())
            self._sql_schema = known
        return self._sql_schema

    def _file(self, path: str):
        """A datastore record's path as :meth:`files` gives it: text below the root, or
        a ``ResourcePath`` when it is absolute (a URI or a path outside the root)."""
        if "://" in path or path.startswith("/"):
            return self.butler._datastore.root.join(path)
        return path

    def files(self, refs) -> dict:
        """Dataset ID -> its file (datasets without one are left out): a path below the
        datastore root (text), else its URI (a ``ResourcePath``).

        A FileDatastore's own records give the paths in bulk (``export_records``: 50,000
        in 0.9 s where ``get_many_uris`` takes 1.5 s, building a ``ResourcePath`` for
        each); any other datastore is asked through ``get_many_uris``.  A dataset split
        into component files has no single file (as ``get_many_uris`` gives no primary
        URI for it)."""
        datastore = self.butler._datastore
        root = getattr(datastore, "root", None)
        if root is None or not hasattr(datastore, "export_records"):
            return {ref.id: uris.primaryURI for ref, uris in
                    self.butler.get_many_uris(refs, allow_missing=True).items()
                    if uris.primaryURI is not None}
        files = {}
        for data in datastore.export_records(refs).values():
            for dataset_id, tables in data.records.items():
                for info in (i for infos in tables.values() for i in infos):
                    if info.component is None:
                        files[dataset_id] = self._file(info.path)
        return files

    def association_entry(self, collection: Collection) -> tuple[Line, str]:
        """The ``associations`` entry of a TAGGED or CALIBRATION collection (each
        certification with its validity range), and a fingerprint of it."""
        from lsst.daf.butler import CollectionType
        kinds = {CollectionType.CALIBRATION, CollectionType.TAGGED}
        ids, ranges = [], {}
        for dataset_type in collection.dataset_types:
            for a in self.butler.registry.queryDatasetAssociations(
                    dataset_type, collections=[collection.name], collectionTypes=kinds,
                    flattenChains=False):
                if a.timespan is None:
                    ids.append(a.ref.id)
                else:
                    span = (a.timespan.begin, a.timespan.end)
                    ranges.setdefault(_span_text(span), (span, []))[1].append(a.ref.id)
        if collection.type == "TAGGED":
            entry = line(type="associations", collection=collection.name,
                         collection_type="TAGGED", dataset_ids=sorted(ids, key=str))
            content = sorted(map(str, ids))
        else:
            entry = line(type="associations", collection=collection.name,
                         collection_type="CALIBRATION", validity_ranges=[
                             line(timespan=Timespan(*span), dataset_ids=sorted(members, key=str))
                             for _, (span, members) in sorted(ranges.items())])
            content = sorted((text, sorted(map(str, members)))
                             for text, (_, members) in ranges.items())
        return entry, hashlib.sha1(repr(content).encode()).hexdigest()


def _required(data_id) -> dict:
    """``dict(data_id.required)``, without a ``Mapping`` view call per dimension."""
    return dict(zip(data_id.dimensions.required, data_id.required_values))


def _span_text(span) -> str:
    return " ".join("-" if t is None else t.tai.isot for t in span)


def _record(fields: dict) -> Line:
    """A dimension record as an export writes it: its timespan as ``datetime_begin`` and
    ``datetime_end`` (TAI), its region as the sphgeom encoding."""
    out = line()
    for name, value in fields.items():
        if name == "timespan":
            out["datetime_begin"] = None if value is None else value.begin
            out["datetime_end"] = None if value is None else value.end
        elif value is not None and hasattr(value, "encode") and type(value).__module__.startswith(
                "lsst.sphgeom"):
            out[name] = Region(type(value).__name__, value.encode().hex())
        else:
            out[name] = value
    return out

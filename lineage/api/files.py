"""A dataset's file served from the server's datastore: the explorer's link to fetch it.

``GET /datasets/{uuid}/file`` (:mod:`lineage.api.app`) streams the file, and
``Dataset.fileUrl`` gives that path only when the server's datastore holds the file.
The file is found as ``lineage fetch`` finds it (:mod:`lineage.fetch.datastore`): the
datastore is the server's ``datastore`` setting, else its repository's
(:func:`lineage.api.lightcurve.datastore_of`); a file datastore refuses a dataset whose
``uri`` or ``path`` would lead outside its root (:mod:`lineage.fetch.confine`: ``..``,
an absolute path elsewhere, a symbolic link out of the root), and the real path is
checked again just before it is read (:func:`lineage.fetch.datastore.source_of`).  A
Butler datastore answers with the Butler's own URI of the dataset.

Only local files are served: a datastore on ``s3://`` or ``https://`` is read by the
client itself (``lineage fetch``), so ``fileUrl`` is null there.

Every file answer points at its provenance as W3C PROV-AQ says (``Link: <...>;
rel="http://www.w3.org/ns/prov#has_provenance"``): the server's ``GET /prov`` of the
dataset's whole upstream as PROV-JSON.  With ``?provenance=true`` a FITS file is streamed
with its provenance cards in its primary header, as ``lineage fetch --with-provenance``
writes them (:mod:`lineage.standards.stamp`), the sidecar card naming that URL; the
datastore's file is only read.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import graphene

from lineage.api.lightcurve import datastore_of
from lineage.api.types import Dataset, _attach
from lineage.fetch.datastore import (Datastore, DatastoreError, RefusedPath, dataset_props,
                                     is_local, local_path, source_of)
from lineage.standards import fits_header
from lineage.standards.stamp import provenance_of, stamp_cards


class NoFile(DatastoreError):
    """No such dataset, or the server's datastore holds no file of it."""


def file_path(dataset_uuid: str) -> str:
    """The route that serves a dataset's file, relative to the server."""
    return f"/datasets/{dataset_uuid}/file"


#: The relation W3C PROV-AQ gives a resource's provenance in an HTTP ``Link`` header.
HAS_PROVENANCE = "http://www.w3.org/ns/prov#has_provenance"


def provenance_url(dataset_uuid: str) -> str:
    """Where this server answers a dataset's whole upstream as W3C PROV-JSON (``GET /prov``),
    relative to the server."""
    return (f"/prov?ID={dataset_uuid}&DIRECTION=BACK&DEPTH=ALL&MODEL=W3C"
            "&RESPONSEFORMAT=PROV-JSON")


def stamped_file(store, key: str, path: Path, provenance_at: str) -> Iterator[bytes] | None:
    """The bytes of the FITS file ``path`` of dataset ``key`` with its provenance cards in
    its primary header (the sidecar card: ``provenance_at``), in chunks; None when the file
    is not FITS."""
    if not fits_header.is_fits(path):
        return None
    record = provenance_of(store, [key], sidecars=False)[key]
    cards, _ = stamp_cards(record, path, provenance_at)
    return fits_header.stamped_chunks(path, cards)


def server_datastore(settings, cache: dict) -> Datastore | None:
    """The server's datastore (None: it has none), made once and kept in ``cache`` (the
    server's, shared by its requests: a Butler is opened once)."""
    if "datastore" not in cache:
        cache["datastore"] = datastore_of(settings)
    return cache["datastore"]


def local_file_of(datastore: Datastore, key: str, props: dict) -> Path | None:
    """The local file holding the dataset ``key`` (its graph properties ``props``), or None
    when the datastore has no file of it here; :class:`lineage.fetch.datastore.RefusedPath`
    when its path would lead outside the datastore (a Butler datastore without the dataset:
    DatastoreError)."""
    source = source_of(datastore.artifact(key, props))
    if not is_local(source):
        return None
    path = local_path(source)
    return path if path.is_file() else None


def dataset_file(store, datastore: Datastore, dataset_uuid: str) -> tuple[dict, Path]:
    """(graph properties, local file) of the dataset with this UUID; :class:`NoFile` when
    the text is not a dataset UUID, the graph has no such dataset or the datastore no file
    of it; :class:`lineage.fetch.datastore.RefusedPath` when its path leads outside."""
    try:
        key = f"dataset:{uuid.UUID(dataset_uuid)}"
    except ValueError:
        raise NoFile(f"{dataset_uuid[:100]!r} is not a dataset UUID") from None
    props = dataset_props(store, [key]).get(key)
    if props is None:
        raise NoFile(f"no dataset {key.split(':', 1)[1]} in this repository")
    try:
        path = local_file_of(datastore, key, props)
    except RefusedPath:
        raise
    except DatastoreError:   # a Butler datastore without it
        path = None
    if path is None:
        raise NoFile(f"the server's datastore ({datastore.describe()}) has no file of "
                     f"dataset {key.split(':', 1)[1]}")
    return props, path


def _file_urls(datastore: Datastore, nodes: list[dict]) -> list[str | None]:
    out = []
    for node in nodes:
        try:
            found = local_file_of(datastore, node["key"], node)
        except DatastoreError:   # refused or unknown to the datastore: no link
            found = None
        out.append(file_path(node["key"].split(":", 1)[1]) if found else None)
    return out


async def _file_url(root, info):
    """The route's path when the server's datastore holds the file: every dataset of a
    request checked together in one thread (a local file: one ``stat``)."""
    ctx = info.context
    datastore = server_datastore(ctx.settings, ctx.cache)
    if datastore is None:
        return None

    async def fetch(keys):
        nodes = await ctx.loaders.node.load_many(keys)
        return await ctx.run(_file_urls, datastore, [n or {"key": k}
                                                     for k, n in zip(keys, nodes)])
    return await ctx.loaders.batched("Dataset.fileUrl", fetch).load(root["key"])


_attach(Dataset, "file_url", graphene.Field(
    graphene.String, resolver=_file_url,
    description="Where this server serves its file (`/datasets/<uuid>/file`, relative to "
                "the server), when its datastore holds the file; null otherwise."))

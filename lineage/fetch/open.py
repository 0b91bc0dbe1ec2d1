"""Opening a dataset's bytes: from the cache or the datastore, counting what was read."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

from lineage.fetch.cache import Cache
from lineage.fetch.datastore import (Artifact, Datastore, DatastoreError, dataset_keys, datastore_for,
                                     format_of, is_local, local_path, resolve, source_of)
from lineage.store.repo import open_store


#: Remote reads go through a buffer of this size: the small reads of a FITS header become
#: one ranged request; a large read (an image section, a column chunk) is one request.
REMOTE_BLOCK = 1 << 14


@dataclass
class ReadStats:
    """What one or more reads cost: bytes from the datastore, bytes from the cache."""

    source_bytes: int = 0
    cache_bytes: int = 0
    cache_hits: int = 0
    reads: int = 0


class _Counted(io.RawIOBase):
    """A read-only file that adds the bytes read through it to ``stats.<field>``."""

    def __init__(self, raw, stats: ReadStats, field: str, name: str) -> None:
        super().__init__()
        self._raw, self._stats, self._field, self._name = raw, stats, field, name

    def _count(self, n: int) -> None:
        setattr(self._stats, self._field, getattr(self._stats, self._field) + n)

    def read(self, n=-1):
        data = self._raw.read(n)
        self._count(len(data))
        return data

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        buffer[:len(data)] = data
        self._count(len(data))
        return len(data)

    def seek(self, offset, whence=0):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()

    def readable(self):
        return True

    def seekable(self):
        return True

    @property
    def mode(self):
        return "rb"

    @property
    def name(self):
        return self._name

    def close(self):
        self._raw.close()
        super().close()


def open_counted(uri: str, stats: ReadStats, field: str = "source_bytes"):
    """Open a local path or URL for reading, counting bytes into ``stats``."""
    try:
        if is_local(uri):
            return _Counted(open(local_path(uri), "rb"), stats, field, uri)
        import fsspec
        raw = fsspec.open(uri, "rb", cache_type="none").open()
    except FileNotFoundError:
        raise FileNotFoundError(f"file not found: {uri}") from None
    finally:
        stats.reads += 1
    # counted below the buffer: what the network carried, not what the reader asked for
    return io.BufferedReader(_Counted(raw, stats, field, uri), REMOTE_BLOCK)


def _artifact(dataset, store, repo, datastore) -> Artifact:
    if isinstance(dataset, Artifact):
        return dataset
    keys = dataset_keys([dataset])
    if not keys:
        if isinstance(dataset, (str, os.PathLike)):  # a file or URL, no graph involved
            uri = str(dataset)
            return Artifact(key="", uri=uri, format=format_of(uri), size=None, checksum=None,
                            relpath=os.path.basename(uri))
        raise DatastoreError(f"{dataset!r} names no dataset (give a UUID, a key, a lineage "
                             "row, or a file)")
    if store is None:
        repo = repo or os.environ.get("LINEAGE_REPO", "lineage-repo")
        with open_store(repo) as s:
            return _artifact(dataset, s, repo, datastore)
    if not isinstance(datastore, Datastore):
        datastore = datastore_for(repo, datastore) if (repo or datastore) else None
        if datastore is None:
            raise DatastoreError("reading a dataset of a store needs its repository (repo=) "
                                 "or a datastore (datastore=)")
    return resolve(store, keys[:1], datastore)[0]


def _opener(artifact: Artifact, cache: Cache | None, stats: ReadStats, whole: bool):
    """A function opening the artifact's bytes: the cached copy if there is one (filling the
    cache first for a whole-file read), else the datastore."""
    def from_source():   # a local file of a datastore is checked again to be below its root
        return open_counted(source_of(artifact), stats)

    if cache is None:
        return from_source

    def from_cache():
        f = cache.open(artifact, fill=whole)
        if f is None:   # not cached (or evicted since): the datastore
            return from_source()
        stats.cache_hits += 1
        stats.reads += 1
        return _Counted(f, stats, "cache_bytes", artifact.uri)
    return from_cache


def _named(artifact: Artifact, fn, *args):
    """Call a reader, naming the dataset and its file in any error."""
    try:
        return fn(*args)
    except DatastoreError:
        raise
    except FileNotFoundError:
        raise DatastoreError(f"{artifact.name()}: file not found: {artifact.uri}") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise DatastoreError(f"{artifact.name()}: cannot read {artifact.uri} as "
                             f"{artifact.format or 'a known format'}: {exc}") from None

"""From graph answers to data (docs/fetch.md): datastores and resolution
(:mod:`.datastore`), subset download (:mod:`.transfer`), the shared cache
(:mod:`.cache`), and reading into memory with column, row and cutout selection
(:mod:`.read`, :mod:`.cutout`).  Paths built from graph values stay in their
folder (:mod:`.confine`)."""

from lineage.fetch.cache import Cache
from lineage.fetch.datastore import (Artifact, ButlerDatastore, Datastore, DatastoreError, FileDatastore,
                                     RefusedPath, datastore_for, dataset_keys, resolve)
from lineage.fetch.open import ReadStats
from lineage.fetch.read import get
from lineage.fetch.transfer import FetchError, fetch, plan

__all__ = ["Artifact", "ButlerDatastore", "Cache", "Datastore", "DatastoreError", "FetchError",
           "FileDatastore", "ReadStats", "RefusedPath", "datastore_for", "dataset_keys", "fetch",
           "get", "plan", "resolve"]

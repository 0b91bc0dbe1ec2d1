"""Datastores: where the files of the graph's datasets are, and how to open them.

A graph answer names datasets; :func:`resolve` turns them into
:class:`Artifact` records (URI, format, size, checksum) through a
:class:`Datastore`:

* :class:`FileDatastore`: a root (a local directory, ``file://``, ``s3://``,
  ``https://`` ... anything fsspec opens) and a path template for datasets the
  graph gives no path for.  A dataset's ``uri`` property wins; the demo's
  ``file://datastore/<path>`` and relative URIs or ``path`` properties (Butler
  exports) are under the root.
* :class:`ButlerDatastore`: a Butler repository through ``lsst-daf-butler``
  (``pip install 'survey-lineage[butler]'``): ``butler.getURI`` of the dataset's UUID.

Graph values are not trusted (:mod:`.confine`): a file datastore refuses a
dataset whose URI, path or template fields would lead outside its root
(``..``, an absolute path elsewhere, another scheme or host, a symbolic link
out of a local root), and the place of a file below a fetch directory
(:attr:`Artifact.relpath`) is checked the same way.  A Butler datastore's
URIs are the Butler's own answers for the dataset's UUID, trusted as the
Butler trusts its records.

The datastore of a repository is its config's ``datastore`` entry (a root string or
``{"root": ..., "template": ...}``, or ``{"butler": REPO}``), else ``REPO/datastore``;
``--datastore`` overrides it (:func:`datastore_for`).
"""

from __future__ import annotations

import json
import os
import string
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import fsspec

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.fetch.confine import (UnsafePath, check_relative, inside, real_inside, remote_inside, remote_join,
                                   shown)
from lineage.store.repo import read_config
from lineage.core.errors import LineageError, UserError

#: Path of a dataset without ``uri`` or ``path`` property, under the root.
DEFAULT_TEMPLATE = "{run}/{dataset_type}/{data_id_path}{suffix}"

#: The demo writes ``file://datastore/<path>``: relative to the repository's datastore.
DEMO_PREFIX = "file://datastore/"

#: File suffix -> format :func:`lineage.get` reads.
FORMATS = {".fits": "fits", ".fit": "fits", ".fz": "fits", ".fits.gz": "fits",
           ".parq": "parquet", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".ecsv": "ecsv"}

#: Butler formatter class names (last part) -> format, when the path says nothing.
FORMATTERS = {"FitsExposureFormatter": "fits", "FitsImageFormatter": "fits",
              "FitsMaskedImageFormatter": "fits", "ParquetFormatter": "parquet",
              "JsonFormatter": "json", "YamlFormatter": "yaml", "AstropyTableFormatter": "ecsv"}


class DatastoreError(LineageError, OSError):
    """A dataset whose file cannot be found, read or trusted; the message names both."""


class DatastoreNotGiven(DatastoreError, UserError):
    """A repository with no datastore directory (one on a Bolt server), and no root given."""


class RefusedPath(DatastoreError):
    """A dataset whose URI, path or run would lead a read or a write outside its folder."""


@dataclass(frozen=True)
class Artifact:
    """One file holding one dataset."""

    key: str            # dataset:<uuid>
    uri: str            # local path or URL (file://, s3://, https://)
    format: str         # fits, parquet, json, yaml, csv, ecsv, or "" when unknown
    size: int | None    # bytes, as the graph says (None: unknown)
    checksum: str | None  # "sha256:<hex>" as the graph says (None: unknown)
    relpath: str        # where it goes below a fetch directory
    dataset_type: str = ""
    data_id: str = ""
    run: str = ""
    root: str = ""      # the local datastore root its file must stay below ("": none)
    error: str = ""     # why it was refused (``resolve(..., keep_refused=True)``)

    @property
    def uuid(self) -> str:
        return self.key.split(":", 1)[1]

    @property
    def is_local(self) -> bool:
        return is_local(self.uri)

    def as_dict(self) -> dict:
        return asdict(self)

    def name(self) -> str:
        """How messages name the dataset: type, data ID, run and UUID."""
        return _name(self.key, self.dataset_type, self.data_id, self.run, self.uri)


def _plain(value) -> str:
    """A graph value as messages show it: as it is, or quoted when it holds control
    characters (a NUL, an escape sequence) or is not text."""
    text = value if isinstance(value, str) else str(value)
    return text if text.isprintable() else shown(text)


def _name(key: str, dataset_type, data_id, run, uri: str = "") -> str:
    what = " ".join(_plain(x) for x in (dataset_type, data_id) if x)
    uuid_ = key.split(":", 1)[-1]
    if what:
        return f"{what} in {_plain(run)} ({uuid_})"
    return key or _plain(PurePosixPath(uri).name)


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(uri[len("file://"):] if uri.startswith("file://") else uri)


def format_of(uri: str, formatter: str | None = None) -> str:
    name = PurePosixPath(uri.split("#", 1)[0].split("?", 1)[0]).name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return FORMATTERS.get((formatter or "").rsplit(".", 1)[-1], "")


def normal_checksum(value) -> str | None:
    """``sha256:<hex>`` from the graph's checksum (a bare 64-hex value is sha256)."""
    if not value:
        return None
    text = str(value).strip().lower()
    if ":" in text:
        return text
    return f"sha256:{text}" if len(text) == 64 else None


def _join(root: str, rel: str, what: str = "path") -> str:
    """``rel`` below ``root``; UnsafePath when it would lead outside (:mod:`.confine`)."""
    if is_local(root):
        base = root[len("file://"):] if root.startswith("file://") else root
        path = os.path.join(base, "/".join(check_relative(rel, what)))
        real_inside(base, path, what)
        return path
    return remote_join(root, rel, what)


class Datastore:
    """Finds the file of a dataset from its graph properties and opens it."""

    def uri_of(self, key: str, props: dict) -> str:
        raise NotImplementedError

    #: The local root every file of this datastore must stay below ("": not checked).
    local_root = ""

    def relpath_of(self, uri: str, props: dict) -> str:
        """Where the file goes below a fetch directory: ``run/type/file`` by default; each
        part checked (:func:`.confine.check_relative`), so it cannot lead outside."""
        name = PurePosixPath(uri.split("?", 1)[0]).name or key_name(props)
        parts = []
        for what, value in (("run", props.get("run", "")),
                            ("dataset type", props.get("dataset_type", "")),
                            ("file name", name)):
            if value:
                parts += check_relative(value, what)
        return "/".join(parts)

    def artifact(self, key: str, props: dict) -> Artifact:
        """The artifact of a dataset; :class:`RefusedPath` names the dataset, the value and
        why when its URI, path, run or type would lead outside the datastore or a fetch
        directory."""
        try:
            uri = self.uri_of(key, props)
            relpath = self.relpath_of(uri, props)
        except UnsafePath as exc:
            raise RefusedPath(f"{dataset_name(key, props)}: refused: its {exc}") from None
        try:
            size = int(props["size"]) if props.get("size") is not None else None
        except (TypeError, ValueError):
            size = None
        return Artifact(key=key, uri=uri, format=format_of(uri, props.get("formatter")),
                        size=size, checksum=normal_checksum(props.get("checksum")),
                        relpath=relpath, dataset_type=props.get("dataset_type", ""),
                        data_id=props.get("data_id", ""), run=props.get("run", ""),
                        root=self.local_root)

    def describe(self) -> str:
        raise NotImplementedError


def key_name(props: dict) -> str:
    return str(props.get("key", "dataset")).split(":", 1)[-1]


def dataset_name(key: str, props: dict) -> str:
    """How messages name a dataset from its graph properties (as :meth:`Artifact.name`)."""
    return _name(key, props.get("dataset_type", ""), props.get("data_id", ""),
                 props.get("run", ""))


class FileDatastore(Datastore):
    """Files below a root that fsspec opens (a directory, ``s3://bucket/repo``, ``https://...``).

    Every dataset's file is below the root: a relative ``uri``/``path`` (or the demo's
    ``file://datastore/...``) is joined to it, an absolute one must already be below it
    (a local file's real path, symbolic links resolved; a URL of the root's scheme and
    host), and a template's fields are checked as relative paths."""

    def __init__(self, root: str | os.PathLike, template: str = DEFAULT_TEMPLATE) -> None:
        root = str(root)
        self.root = str(Path(root).resolve()) if is_local(root) and "://" not in root else root
        if self.root.startswith("file://"):
            self.root = str(local_path(self.root).resolve())
        self.template = template
        self.local_root = self.root if is_local(self.root) else ""

    def describe(self) -> str:
        return self.root

    def _relative(self, uri: str) -> str | None:
        """The path of a URI below the root as the graph gives it, or None when absolute."""
        if uri.startswith(DEMO_PREFIX):
            return uri[len(DEMO_PREFIX):]
        if "://" not in uri and not os.path.isabs(uri):   # a backslash: refused as relative
            return uri
        return None

    def _absolute(self, uri: str, what: str) -> str:
        """An absolute URI or path the graph gives: accepted only below the root."""
        if is_local(self.root):
            if not is_local(uri):
                raise UnsafePath(what, uri, f"is not below the datastore root {self.root} "
                                            "(another scheme)")
            path = local_path(uri)
            if not path.is_absolute():   # file://host/path
                raise UnsafePath(what, uri, "names a host, not a path below the datastore "
                                            f"root {self.root}")
            try:
                inside(self.root, path, what)
            except UnsafePath as exc:
                raise UnsafePath(what, uri, exc.reason) from None
            return str(path)
        remote_inside(self.root, uri, what)
        return uri

    def uri_of(self, key: str, props: dict) -> str:
        for what in ("uri", "path"):
            uri = props.get(what)
            if uri:
                if not isinstance(uri, str):
                    raise UnsafePath(what, uri, "is not text")
                stored, uri = uri, uri.split("#", 1)[0]
                rel = self._relative(uri)
                try:
                    return _join(self.root, rel, what) if rel is not None \
                        else self._absolute(uri, what)
                except UnsafePath as exc:   # named as the graph holds it
                    raise UnsafePath(what, stored, exc.reason) from None
        dstype = props.get("dataset_type", "")
        fields = {**props, "dataset_type": dstype, "run": props.get("run", ""),
                  "data_id": props.get("data_id", ""),
                  "data_id_path": DataId.parse(str(props.get("data_id", ""))).path(),
                  "uuid": key.split(":", 1)[1],
                  "suffix": ".parq" if props.get("storage_class") == "DataFrame" else ".fits"}
        for name in {f for _, f, _, _ in string.Formatter().parse(self.template) if f}:
            value = fields.get(name.split(".", 1)[0].split("[", 1)[0])
            if isinstance(value, str) and value and name not in ("suffix", "uuid"):
                check_relative(value, name.replace("_", " "))
        try:
            path = self.template.format(**fields)
        except (KeyError, IndexError) as exc:
            raise DatastoreError(f"{key}: the path template {self.template!r} names {exc}, "
                                 "which the dataset does not have") from None
        return _join(self.root, path, f"path (from the template {self.template!r})")

    def relpath_of(self, uri: str, props: dict) -> str:
        if is_local(self.root):
            root = self.root.rstrip("/") + "/"
            path = os.path.normpath(uri)
            if not path.startswith(root):   # below the root through a link
                path = os.path.realpath(uri)
            if path.startswith(root):
                return "/".join(check_relative(path[len(root):], "path"))
        else:
            root = self.root.rstrip("/") + "/"
            if uri.startswith(root):
                return "/".join(check_relative(uri[len(root):].split("?", 1)[0], "path"))
        return super().relpath_of(uri, props)


class ButlerDatastore(Datastore):
    """A Butler repository: each dataset's URI is ``butler.getURI`` of its UUID."""

    def __init__(self, repo: str, butler=None) -> None:
        self.repo = repo
        self._butler = butler

    def describe(self) -> str:
        return f"butler:{self.repo}"

    @property
    def butler(self):
        if self._butler is None:
            try:
                from lsst.daf.butler import Butler
            except ImportError:
                raise DatastoreError(
                    f"butler:{self.repo}: reading a Butler repository needs lsst-daf-butler "
                    "(pip install 'survey-lineage[butler]')") from None
            self._butler = Butler.from_config(self.repo)
        return self._butler

    def uri_of(self, key: str, props: dict) -> str:
        ref = self.butler.get_dataset(uuid.UUID(key.split(":", 1)[1]))
        if ref is None:
            raise DatastoreError(f"{key}: the Butler repository {self.repo} has no such dataset")
        return str(self.butler.getURI(ref))


def make_datastore(spec, base: Path | None = None) -> Datastore:
    """A datastore from its description: a root string, ``butler:REPO``, or a dict with
    ``root`` (and ``template``) or ``butler``.  A relative local root is below ``base``."""
    if isinstance(spec, Datastore):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        spec = str(spec)
        spec = {"butler": spec[len("butler:"):]} if spec.startswith("butler:") else {"root": spec}
    if not isinstance(spec, dict) or not ({"root", "butler"} & set(spec)):
        raise DatastoreError(f"datastore {spec!r}: give a root (directory or URL), "
                             "butler:REPO, or {\"root\": ..., \"template\": ...}")
    if "butler" in spec:
        return ButlerDatastore(str(spec["butler"]))
    root = str(spec["root"])
    if "://" not in root and base is not None and not os.path.isabs(root):
        root = str(base / root)
    return FileDatastore(root, spec.get("template", DEFAULT_TEMPLATE))


def datastore_for(repo: str | os.PathLike | None, override=None) -> Datastore:
    """The datastore of a repository: ``override``, else its config's ``datastore``, else
    ``REPO/datastore``.  A Bolt URI has no directory: it needs ``override``."""
    if override:
        return make_datastore(override, Path.cwd())
    if repo is None or "://" in str(repo):
        raise DatastoreNotGiven("is needed: a repository on a Bolt server has no datastore "
                                "directory", field="datastore")
    root = Path(repo)
    config = read_config(root)
    return make_datastore(config.get("datastore") or "datastore", root)


def dataset_props(store, keys: list[str]) -> dict[str, dict]:
    """key -> the properties of each dataset (missing keys are absent)."""
    return store.nodes("Dataset", keys)


def resolve(store, answer, datastore: Datastore, keep_refused: bool = False) -> list[Artifact]:
    """The artifacts holding the datasets of a query answer (:func:`dataset_keys`), in
    the answer's order; a key the graph does not know is an error naming it.

    A dataset the datastore refuses (:class:`RefusedPath`: a URI or run leading outside
    its folder) or cannot place is an error naming it; with ``keep_refused`` it is an
    artifact with ``error`` set instead, so the others can still be fetched."""
    keys = dataset_keys(answer)
    props = dataset_props(store, keys)
    missing = [k for k in keys if k not in props]
    if missing:
        raise DatastoreError(f"no such dataset in the graph: {missing[0]}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    out = []
    for k in keys:
        try:
            out.append(datastore.artifact(k, props[k]))
        except DatastoreError as exc:
            if not keep_refused:
                raise
            p = props[k]
            out.append(Artifact(key=k, uri=_plain(p.get("uri") or p.get("path") or ""),
                                format="", size=None, checksum=None, relpath="",
                                dataset_type=_plain(p.get("dataset_type", "")),
                                data_id=_plain(p.get("data_id", "")),
                                run=_plain(p.get("run", "")), error=str(exc)))
    return out


def _as_key(text: str) -> str | None:
    text = text.strip()
    if text.startswith("dataset:"):
        text = text[len("dataset:"):]
    try:
        return f"dataset:{uuid.UUID(text)}"
    except ValueError:
        return None


def dataset_keys(answer) -> list[str]:
    """Dataset keys in any query answer, first appearance first, each once.

    Takes lineage rows (``DatasetRow``), artifacts, keys or UUIDs, dicts and lists as the
    JSON output of other commands or GraphQL gives them (every ``dataset:<uuid>`` string
    and every ``uuid``/``key`` field that is a dataset), and tables (pandas DataFrame:
    every cell that is a dataset key)."""
    out: dict[str, None] = {}

    def add(text) -> None:
        key = _as_key(text) if isinstance(text, str) else None
        if key:
            out.setdefault(key)

    def walk(item) -> None:
        if hasattr(item, "key") and isinstance(getattr(item, "key"), str):
            add(item.key)
        elif isinstance(item, str):
            if item.startswith("dataset:") or item.count("-") == 4:
                add(item)
        elif isinstance(item, dict):
            for name, value in item.items():
                if name in ("uuid", "key") and isinstance(value, str):
                    add(value)
                elif not isinstance(value, str) or value.startswith("dataset:"):
                    walk(value)
        elif hasattr(item, "to_dict") and hasattr(item, "columns"):  # a DataFrame
            walk(item.to_dict("records"))
        elif isinstance(item, (list, tuple, set)) or hasattr(item, "__iter__"):
            for x in item:
                walk(x)

    walk(answer)
    return [k for k in out if kind_of_key(k) == Kind.DATASET]


def read_answer_file(path: str | os.PathLike) -> list[str]:
    """Dataset keys from a file: JSON (any command's ``--json`` output, a GraphQL response)
    or text with one UUID or key per line (``#`` comments)."""
    text = Path(path).read_text() if str(path) != "-" else __import__("sys").stdin.read()
    stripped = text.lstrip()
    if stripped[:1] in "[{":
        try:
            return dataset_keys(json.loads(text))
        except json.JSONDecodeError as exc:
            raise DatastoreError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    keys = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key = _as_key(line)
        if key is None:
            raise DatastoreError(f"{path}: line {n}: {line!r} is not a dataset UUID or key")
        keys.append(key)
    return list(dict.fromkeys(keys))


def open_uri(uri: str, mode: str = "rb", **kw):
    """A file object for a local path or any URL fsspec knows."""
    if is_local(uri):
        return open(local_path(uri), mode)
    return fsspec.open(uri, mode, **kw).open()


def size_of(uri: str) -> int:
    if is_local(uri):
        return local_path(uri).stat().st_size
    fs, path = fsspec.core.url_to_fs(uri)
    return int(fs.size(path))


def source_of(artifact: Artifact) -> str:
    """The local path or URL to read an artifact from.  A local file of a datastore with a
    root is checked again just before it is read (its real path, every symbolic link
    resolved, must be below the real root): :class:`RefusedPath` otherwise."""
    if artifact.error:
        raise RefusedPath(artifact.error)
    if not artifact.root or not artifact.is_local:
        return artifact.uri
    try:
        return str(inside(artifact.root, local_path(artifact.uri), "file"))
    except UnsafePath as exc:
        raise RefusedPath(f"{artifact.name()}: refused: its {exc}") from None

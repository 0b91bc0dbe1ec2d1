"""Provenance inside fetched files (``lineage fetch --with-provenance``, docs/standards.md).

Every fetched file gets a sidecar, ``<file>.prov.json``: the W3C PROV document
(:mod:`lineage.standards.prov`) of the dataset's whole upstream.  A FITS file also gets cards
in its primary header, in two groups:

* ``LSST BUTLER ...``: what Rubin's Butler itself writes into the FITS files it stores
  (``DatasetProvenance.to_flat_dict(ref, prefix="LSST BUTLER", sep=" ", simple_types=True,
  max_inputs=3000)`` in lsst-daf-butler, written by obs_base's
  ``add_provenance_to_fits_header``): the dataset's ``ID``, ``RUN``, ``DATASETTYPE`` and
  ``DATAID <DIMENSION>``, the producing ``QUANTUM``, ``N_INPUTS`` and each direct input's
  ``INPUT <n> ID``, ``RUN`` and ``DATASETTYPE`` (none past 3000 inputs, as the Butler does),
  with ``INPUT <n> REJECTED`` as a Butler "extra" for an input the task read and rejected.
  ``DatasetProvenance.from_flat_dict`` reads them back.  A file that already carries the
  Butler's cards keeps its own.
* ``LSST LINEAGE ...``: what the Butler's cards have no place for: the producing ``TASK``,
  its ``TASK CLASS``, the ``SOFTWARE`` version, the ``SIDECAR``'s name, and
  ``ORIGINAL CARDS`` (:mod:`lineage.standards.fits_header`), which lets the datastore's exact
  bytes be rebuilt from the stamped file.

The datastore's files are never written: provenance goes into the fetched copy, after its
checksum was verified against the graph's, and the copy is put in place whole by a rename.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lineage.core.atomic import write_atomic
from lineage.core.dataid import DataId
from lineage.core.progress import progress_bar
from lineage.fetch.datastore import Artifact
from lineage.fetch.transfer import sha256_file, verify
from lineage.standards import fits_header, queries
from lineage.standards.prov import document, selection, serialize
from lineage.traversal.traverse import UP

BUTLER = "LSST BUTLER"
LINEAGE = "LSST LINEAGE"
#: The Butler records no inputs past this many (obs_base's ``add_provenance_to_fits_header``).
MAX_INPUTS = 3000
SIDECAR_SUFFIX = ".prov.json"


@dataclass
class FileProvenance:
    """What a fetched file is told of its dataset: identity, producer, direct inputs."""

    uuid: str
    run: str
    dataset_type: str
    data_id: str
    quantum: str | None = None          # the producing quantum's UUID
    task: str | None = None
    task_class: str | None = None
    software: str | None = None
    #: ``(uuid, run, dataset type, rejected)`` of each direct input, by type, data ID, UUID
    inputs: list[tuple[str, str, str, bool]] = field(default_factory=list)
    sidecar_json: str = ""

    def butler_cards(self) -> list[tuple[str, object, str]]:
        """The Butler's provenance cards, in its order and with its comments."""
        cards: list[tuple[str, object, str]] = [
            (f"{BUTLER} ID", self.uuid, "Dataset ID"), (f"{BUTLER} RUN", self.run, "Run collection"),
            (f"{BUTLER} DATASETTYPE", self.dataset_type, "Dataset type")]
        for dimension, value in sorted(DataId.parse(self.data_id).items()):
            cards.append((f"{BUTLER} DATAID {dimension.upper()}",
                          int(value) if value.lstrip("-").isdigit() else value, "Data identifier"))
        if self.quantum:
            cards.append((f"{BUTLER} QUANTUM", self.quantum, ""))
        cards.append((f"{BUTLER} N_INPUTS", len(self.inputs), ""))
        if len(self.inputs) <= MAX_INPUTS:
            for n, (uuid, run, dataset_type, rejected) in enumerate(self.inputs):
                cards += [(f"{BUTLER} INPUT {n} ID", uuid, "Dataset ID"),
                          (f"{BUTLER} INPUT {n} RUN", run, "Run collection"),
                          (f"{BUTLER} INPUT {n} DATASETTYPE", dataset_type, "Dataset type")]
                if rejected:
                    cards.append((f"{BUTLER} INPUT {n} REJECTED", True,
                                  "read and rejected by the task"))
        return cards

    def lineage_cards(self, sidecar: str) -> list[tuple[str, object, str]]:
        """The cards of what the Butler's have no place for."""
        named = [(f"{LINEAGE} TASK", self.task, "task label of the producing quantum"),
                 (f"{LINEAGE} TASK CLASS", self.task_class, "its PipelineTask class"),
                 (f"{LINEAGE} SOFTWARE", self.software, "software version it ran with"),
                 (f"{LINEAGE} SIDECAR", sidecar, "W3C PROV-JSON of the whole upstream")]
        return [card for card in named if card[1]]


def provenance_of(store, keys, show_progress: bool = False, sidecars: bool = True
                  ) -> dict[str, FileProvenance]:
    """The :class:`FileProvenance` of each dataset key, with its sidecar's PROV-JSON unless
    not ``sidecars`` (one upstream traversal a dataset: a bar shows them with
    ``show_progress``)."""
    keys = sorted(set(keys))
    found = {row[0]: FileProvenance(row[0].split(":", 1)[1], row[3] or "", row[1] or "",
                                    row[2] or "")
             for row in queries.dataset_rows(store, keys)}
    producers = dict(queries.producer_rows(store, found))
    quanta = {row[0]: row for row in queries.quantum_rows(store, set(producers.values()))}
    software = {row[0]: row[1] for row in queries.software_rows(
        store, {row[11] for row in quanta.values() if row[11]})}
    inputs: dict[str, list[tuple[str, bool]]] = {}
    for dataset, quantum, rejected, _ in queries.input_rows(store, set(quanta)):
        inputs.setdefault(quantum, []).append((dataset, bool(rejected)))
    described = {row[0]: row for row in queries.dataset_rows(
        store, {d for pairs in inputs.values() for d, _ in pairs})}
    with progress_bar(f"provenance of {len(found)} datasets", len(found), "datasets",
                      show_progress) as advance:
        for key, record in found.items():
            _describe(record, quanta.get(producers.get(key)), software, inputs, described)
            if sidecars:
                record.sidecar_json = serialize(document(store, *selection(store, key, UP)),
                                                "json")
            advance(1)
    return found


def _describe(record: FileProvenance, quantum, software, inputs, described) -> None:
    """Fill ``record`` with its producing quantum's task, software and inputs."""
    if quantum is not None:
        record.quantum = quantum[0].split(":", 1)[1]
        record.task, record.task_class = quantum[1], quantum[2]
        record.software = software.get(quantum[11])
        rows = sorted((described[d][1] or "", DataId.parse(described[d][2]).sort_key(),
                       described[d][0], rejected)
                      for d, rejected in inputs.get(quantum[0], ()) if d in described)
        record.inputs = [(d.split(":", 1)[1], described[d][3] or "", dataset_type, rejected)
                         for dataset_type, _, d, rejected in rows]


class Stamper:
    """Puts each verified copy in place with its provenance (the ``finish`` of
    :func:`lineage.fetch.transfer.fetch`): the sidecar first, then the file, renamed in."""

    def __init__(self, provenance: dict[str, FileProvenance]) -> None:
        self.provenance = provenance

    @staticmethod
    def sidecar_of(relpath: str) -> str:
        return relpath + SIDECAR_SUFFIX

    def extra_names(self, artifact: Artifact) -> list[str]:
        """The other file it writes below the fetch directory."""
        return [self.sidecar_of(artifact.relpath)]

    def place(self, artifact: Artifact, verified: Path, target: Path, source_sha256: str
              ) -> dict:
        """Write the sidecar, then ``target`` from the verified copy (stamped if FITS)."""
        record = self.provenance[artifact.key]
        sidecar = target.with_name(target.name + SIDECAR_SUFFIX)
        write_atomic(sidecar, record.sidecar_json + "\n", durable=True)
        header = None
        digest = source_sha256
        if fits_header.is_fits(verified):
            cards, own = stamp_cards(record, verified, sidecar.name)
            digest = self._stamp(verified, target, cards)
            header = _header_note(own)
        else:
            os.replace(verified, target)
        return self._entries(artifact, digest, source_sha256, header)

    def _entries(self, artifact: Artifact, digest: str, source_sha256: str,
                 header: str | None) -> dict:
        return {"sha256": digest, "source_sha256": source_sha256,
                "provenance": {"sidecar": self.sidecar_of(artifact.relpath), "header": header}}

    @staticmethod
    def _stamp(verified: Path, target: Path, cards) -> str:
        """Write the stamped copy beside ``target`` (a new hidden file), rename it in and
        drop the verified copy; the sha256 of what was written."""
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        try:
            os.unlink(tmp)   # written anew by ``write_stamped``, which creates it exclusively
            digest = fits_header.write_stamped(verified, Path(tmp), cards)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        verified.unlink()
        return digest

    def present(self, artifact: Artifact, target: Path) -> dict | None:
        """The manifest entries of a file this fetch would write, already at ``target`` with
        its sidecar and holding the datastore's bytes (for a stamped FITS file: rebuilt by
        :func:`fits_header.original_sha256`); None when it must be written again."""
        if not target.with_name(target.name + SIDECAR_SUFFIX).is_file():
            return None
        if not fits_header.is_fits(target):
            digest = verify(artifact, target)
            return self._entries(artifact, digest, digest, None)
        original = fits_header.original_sha256(target)
        if original is None:   # a FITS file not stamped (yet)
            return None
        source = verify(artifact, target, original)
        own = _has_butler_cards(fits_header.original_primary_header(target))
        return self._entries(artifact, sha256_file(target), source, _header_note(own))


def stamp_cards(record: FileProvenance, path: Path, sidecar: str
                ) -> tuple[list[tuple[str, object, str]], bool]:
    """The cards to write into the FITS file ``path`` of ``record``'s dataset: the Butler's
    unless the file has its own, and ours (``sidecar``: where its PROV-JSON is); and
    whether the file had its own."""
    own = _has_butler_cards(fits_header.primary_header(path))
    return ([] if own else record.butler_cards()) + record.lineage_cards(sidecar), own


def _has_butler_cards(header) -> bool:
    return any(str(keyword).startswith(BUTLER) for keyword in header)


def _header_note(own: bool) -> str:
    """What the manifest says was written into a FITS file's primary header."""
    return f"{LINEAGE} cards (the file's own {BUTLER} cards kept)" if own else \
        f"{BUTLER} and {LINEAGE} cards"

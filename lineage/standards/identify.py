"""Recognise files that come back (``lineage identify``, DAX9; docs/standards.md).

A file is named by what it carries, then by what it holds:

* a FITS file whose primary header has ``LSST BUTLER ID`` (the Butler writes it into the
  files it stores; ``lineage fetch --with-provenance`` into the copies it writes) is that
  dataset; its bytes are then checked against the graph's checksum: a file stamped by
  ``lineage fetch`` is checked as the datastore's file it was made from
  (:func:`lineage.standards.fits_header.original_sha256`), so a change made after the fetch
  shows, and so does one to a Butler-written file;
* any other file is looked up by its sha256 among the graph's dataset checksums.

Each file gets one :class:`Identified` answer; nothing is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from lineage.fetch.datastore import normal_checksum
from lineage.standards import fits_header, queries
from lineage.standards.stamp import BUTLER

#: Verdicts: the file is the dataset, byte for byte; it names a dataset but its bytes are not
#: the dataset's; it is named but the graph records no checksum to compare; it is not known.
MATCHES, DIFFERS, NAMED, UNKNOWN = "matches", "differs", "named", "unknown"


@dataclass
class Identified:
    """What one file is."""

    file: str
    verdict: str                 # MATCHES, DIFFERS, NAMED or UNKNOWN
    by: str = ""                 # "header", "checksum" or "" (not named)
    key: str = ""
    dataset_type: str = ""
    data_id: str = ""
    run: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _sha256(path: Path, original: str | None = None) -> str:
    if original:
        return original
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(fits_header.CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _named_uuid(path: Path) -> tuple[str | None, str | None, str]:
    """(dataset UUID its header names, sha256 of the datastore's file it stands for, a note
    when the header could not be read); (None, None, "") for a file naming nothing."""
    if not fits_header.is_fits(path):
        return None, None, ""
    try:
        header = fits_header.primary_header(path)
        named = header.get(f"{BUTLER} ID")
        return (str(named) if named else None), fits_header.original_sha256(path), ""
    except fits_header.FitsHeaderError as exc:
        return None, None, str(exc)


def identify(store, paths) -> list[Identified]:
    """What each file is (in the order given): the dataset it names or holds, and whether
    its bytes are that dataset's."""
    answers: list[Identified] = []
    pending: list[tuple[Identified, str | None, str, bool]] = []  # + UUID, sha256, stamped
    for path in map(Path, paths):
        answer = Identified(str(path), UNKNOWN)
        answers.append(answer)
        if not path.is_file():
            answer.note = "no such file" if not path.exists() else "not a regular file"
            continue
        try:
            uuid, original, note = _named_uuid(path)
            digest = _sha256(path, original)
        except OSError as exc:
            answer.note = f"unreadable: {exc.strerror or exc}"
            continue
        answer.note = note
        pending.append((answer, uuid, digest, original is not None))
    named = {row[0]: row for row in queries.dataset_rows(
        store, {f"dataset:{uuid}" for _, uuid, _, _ in pending if uuid})}
    digests = {d for _, uuid, d, _ in pending if not uuid}
    holders: dict[str, list[tuple]] = {}
    for checksum, *row in queries.datasets_with_checksum_rows(
            store, digests | {d.split(":", 1)[1] for d in digests}):
        holders.setdefault(normal_checksum(checksum), []).append(row)
    for answer, uuid, digest, stamped in pending:
        if uuid:
            _by_header(answer, uuid, digest, stamped, named.get(f"dataset:{uuid}"))
        else:
            _by_checksum(answer, digest, holders.get(digest, []))
    return answers


def _by_header(answer: Identified, uuid: str, digest: str, stamped: bool, row) -> None:
    answer.by = "header"
    if row is None:
        answer.note = f"its header names dataset {uuid}, which this repository does not hold"
        return
    key, dataset_type, data_id, run, _, checksum, _ = row
    answer.key, answer.dataset_type, answer.data_id, answer.run = key, dataset_type, \
        data_id or "", run or ""
    want = normal_checksum(checksum)
    if want is None or not want.startswith("sha256:"):
        answer.verdict, answer.note = NAMED, "the graph records no sha256 of it to compare"
    elif want == digest:
        answer.verdict = MATCHES
    else:
        answer.verdict = DIFFERS
        answer.note = (f"its bytes were changed: the graph's checksum is {want}, the file's "
                       f"{'(less its provenance cards) ' if stamped else ''}{digest}")


def _by_checksum(answer: Identified, digest: str, rows: list[tuple]) -> None:
    if not rows:
        answer.note = answer.note or (f"no dataset has its checksum ({digest}) and it names "
                                      "none")
        return
    key, dataset_type, data_id, run = rows[0]
    answer.verdict, answer.by = MATCHES, "checksum"
    answer.key, answer.dataset_type, answer.data_id, answer.run = key, dataset_type, \
        data_id or "", run or ""
    if len(rows) > 1:
        answer.note = (f"{len(rows) - 1} more datasets hold the same bytes: "
                       + ", ".join(r[0] for r in rows[1:4]) + (" ..." if len(rows) > 4 else ""))

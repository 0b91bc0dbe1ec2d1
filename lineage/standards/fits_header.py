"""Provenance cards in a FITS file's primary header, added to a copy and taken off again.

A stamped file is the datastore's file with cards appended at the end of its primary
header (before ``END``), nothing else changed: the cards that were there keep their exact
80-byte images and order, and every byte after the primary header (its data and every
extension) is copied as it was.  One appended card, :data:`ORIGINAL_CARDS`, says how many
cards the original header had, so the original file is the stamped file's first that many
cards, an ``END`` card, blank padding to a whole 2880-byte block, and the rest of the file:
:func:`original_sha256` computes the checksum of the datastore's bytes from a stamped file
alone, and a file changed after it was fetched no longer matches the graph's checksum.

The header is parsed and the cards formatted by astropy (``HIERARCH`` for long keywords,
``CONTINUE`` for long strings); the block arithmetic is the FITS standard's (4.0, section 3.3).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from lineage.core.errors import UserError

BLOCK = 2880
CARD = 80
END_CARD = b"END" + b" " * (CARD - 3)
CHUNK = 1 << 20

#: The appended card holding the number of cards of the original primary header.
ORIGINAL_CARDS = "LSST LINEAGE ORIGINAL CARDS"


class FitsHeaderError(UserError):
    """A file that starts as FITS but whose primary header cannot be read."""


def is_fits(path: Path) -> bool:
    """Whether the file starts as a FITS file does (``SIMPLE  =`` in its first card)."""
    with open(path, "rb") as f:
        return f.read(9) == b"SIMPLE  ="


def read_header_bytes(f: BinaryIO, name: str) -> bytes:
    """The primary header's bytes, whole blocks up to and including the one with ``END``;
    the file is left at the first byte after them."""
    raw = bytearray()
    while True:
        block = f.read(BLOCK)
        if len(block) < BLOCK:
            raise FitsHeaderError(f"{name}: the primary header has no END card "
                                  f"(the file ends after {len(raw) + len(block)} bytes)",
                                  file=name)
        raw += block
        for i in range(0, BLOCK, CARD):
            if block[i:i + CARD].rstrip(b" ") == b"END":
                return bytes(raw)


def cards_of(raw: bytes) -> list[bytes]:
    """The 80-byte card images of a header before its ``END`` card."""
    images = []
    for i in range(0, len(raw), CARD):
        image = raw[i:i + CARD]
        if image.rstrip(b" ") == b"END":
            return images
        images.append(image)
    return images


def parse(raw: bytes, name: str):
    """The header as an astropy ``Header``."""
    from astropy.io import fits
    try:
        return fits.Header.fromstring(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FitsHeaderError(f"{name}: the primary header is not valid FITS: {exc}",
                              file=name) from None


def primary_header(path: Path):
    """The primary header of a FITS file (astropy ``Header``), read without its data."""
    with open(path, "rb") as f:
        return parse(read_header_bytes(f, str(path)), str(path))


def card_images(cards: Iterable[tuple[str, object, str]]) -> list[bytes]:
    """The images of ``(keyword, value, comment)`` cards as astropy formats them (a keyword
    of more than 8 characters as ``HIERARCH``, a long string over ``CONTINUE`` cards); a
    comment that would not fit on the card is left off rather than cut."""
    import warnings
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning
    images = []
    for keyword, value, comment in cards:
        name = keyword if len(keyword) <= 8 and " " not in keyword else f"HIERARCH {keyword}"
        with warnings.catch_warnings():
            warnings.simplefilter("error", VerifyWarning)
            try:
                image = fits.Card(name, value, comment).image
            except VerifyWarning:   # the comment does not fit
                image = fits.Card(name, value).image
        images.append(image.encode("ascii"))
    return images


def stamped_header(raw: bytes, cards: list[tuple[str, object, str]]) -> bytes:
    """The header ``raw`` with ``cards`` and :data:`ORIGINAL_CARDS` appended before END,
    padded to whole blocks."""
    original = cards_of(raw)
    images = original + card_images([*cards, (ORIGINAL_CARDS, len(original),
                                              "cards before the lineage provenance")])
    body = b"".join(images) + END_CARD
    return body + b" " * (-len(body) % BLOCK)


def original_header(raw: bytes, name: str) -> bytes | None:
    """The primary header the datastore's file had, rebuilt from a stamped one; None when
    ``raw`` carries no :data:`ORIGINAL_CARDS` (the file was not stamped)."""
    header = parse(raw, name)
    count = header.get(ORIGINAL_CARDS)
    if count is None:
        return None
    images = cards_of(raw)
    if not isinstance(count, int) or not 0 < count <= len(images):
        raise FitsHeaderError(f"{name}: {ORIGINAL_CARDS} = {count!r} is not a card count of "
                              f"this header ({len(images)} cards)", file=name, field=ORIGINAL_CARDS)
    body = b"".join(images[:count]) + END_CARD
    return body + b" " * (-len(body) % BLOCK)


def stamped_chunks(source: Path, cards: list[tuple[str, object, str]]) -> Iterator[bytes]:
    """The bytes of ``source`` with ``cards`` in its primary header: the stamped header, then
    the rest of the file as it is, in chunks (the header is read, and a bad one refused,
    before the first chunk is given)."""
    src = open(source, "rb")
    try:
        header = stamped_header(read_header_bytes(src, str(source)), cards)
    except BaseException:
        src.close()
        raise

    def chunks() -> Iterator[bytes]:
        with src:
            yield header
            yield from iter(lambda: src.read(CHUNK), b"")
    return chunks()


def write_stamped(source: Path, target: Path, cards: list[tuple[str, object, str]]) -> str:
    """Write ``source`` with ``cards`` in its primary header to ``target`` (a new file; the
    caller renames it into place), copying the rest byte for byte; the sha256 of what was
    written (``sha256:<hex>``)."""
    digest = hashlib.sha256()
    with open(target, "xb") as out:
        for chunk in stamped_chunks(source, cards):
            out.write(chunk)
            digest.update(chunk)
        out.flush()
        os.fsync(out.fileno())
    return "sha256:" + digest.hexdigest()


def original_sha256(path: Path) -> str | None:
    """The sha256 (``sha256:<hex>``) of the file a stamped FITS file was made from; None
    when ``path`` was not stamped."""
    with open(path, "rb") as f:
        original = original_header(read_header_bytes(f, str(path)), str(path))
        if original is None:
            return None
        digest = hashlib.sha256(original)
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def original_primary_header(path: Path):
    """The primary header (astropy ``Header``) of the file a stamped file was made from."""
    with open(path, "rb") as f:
        raw = read_header_bytes(f, str(path))
    original = original_header(raw, str(path))
    return parse(original if original is not None else raw, str(path))

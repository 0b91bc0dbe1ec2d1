"""Data IDs: the data units a dataset or quantum is about, as one value type.

The graph stores a data ID as canonical text, ``band=r,patch=5,tract=9813``:
``name=value`` pairs sorted by name, joined by commas (what the Butler calls
the required dimensions and their values).  :class:`DataId` is that text
parsed: an immutable mapping of dimension name to value text whose ``str`` is
the canonical text.  It keeps the order it was given in (text from elsewhere,
a Butler datastore's for one, need not be sorted), so a file name made from it
(:meth:`DataId.path`) and its sort order follow that text.  Every module that
reads a stored data ID parses it here, so they all agree on what a malformed
one means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lineage.core.errors import UserError


@dataclass(frozen=True)
class DataId(Mapping):
    """Dimension name -> value text, in the order given (``str`` gives the canonical text);
    equal to any mapping with the same items, whatever their order."""

    pairs: tuple[tuple[str, str], ...] = ()
    _values: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_values", dict(self.pairs))

    @classmethod
    def of(cls, mapping: Mapping) -> "DataId":
        """From a mapping of dimension -> value; values become their text (``visit=903342``)."""
        return cls._of_dict({str(name): str(value) for name, value in mapping.items()})

    @classmethod
    def parse(cls, text: str | None, strict: bool = False) -> "DataId":
        """From ``name=value`` pairs joined by commas, in any order; empty text or None is
        the empty data ID.  A part without ``=`` is skipped (stored data IDs are read
        leniently), or with ``strict`` a ValueError.  Nothing is stripped; a value may hold
        ``=`` (only the first one splits); a name given twice keeps its last value."""
        if not text:
            return cls()
        values = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if sep:
                values[name] = value
            elif strict:
                raise UserError(f"data ID {text!r}: {part!r} is not name=value")
        return cls._of_dict(values)

    @classmethod
    def _of_dict(cls, values: dict) -> "DataId":
        """From a dict of text that nobody else holds, without copying it (parsing every
        row of a traversal to sort it must stay cheap)."""
        data_id = object.__new__(cls)
        object.__setattr__(data_id, "pairs", tuple(values.items()))
        object.__setattr__(data_id, "_values", values)
        return data_id

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self.pairs))

    def __str__(self) -> str:
        """The canonical text: ``name=value`` pairs sorted by name, joined by commas."""
        return ",".join(f"{name}={value}" for name, value in sorted(self.pairs))

    def sort_key(self) -> tuple:
        """Orders data IDs naturally, pair by pair in their order: numbers as numbers
        (``patch=2`` before ``patch=10``), a number before a word."""
        return tuple((name, (0, int(value), "") if value.isdigit() else (1, 0, value))
                     for name, value in self.pairs)

    def path(self) -> str:
        """A file-name form: ``band=r,patch=5`` -> ``bandr_patch5`` (no ``=`` left, not
        even inside a value)."""
        return "_".join(f"{name}{value}" for name, value in self.pairs).replace("=", "")


def format_data_id(data_id: Mapping) -> str:
    """Canonical text of a data ID given as a mapping (``{"visit": 903342, ...}``): sorted
    ``name=value`` pairs joined by commas, the same text as ``str(DataId.of(data_id))``,
    without building one (ingest calls this once per dataset)."""
    return ",".join(f"{name}={data_id[name]}" for name in sorted(data_id))


def data_id_object(text: str | None) -> dict:
    """A stored data ID as the command line's JSON shows it: ``visit=2026030100001,detector=3``
    -> ``{"detector": 3, "visit": 2026030100001}``, sorted by dimension; a value of ASCII
    digits without a leading zero becomes a number (``007`` and ``r`` stay text)."""
    values = DataId.parse(text)._values  # its dict: 3x faster than the Mapping's items()
    return {name: int(value) if value.isascii() and value.isdigit()
            and (value[0] != "0" or value == "0") else value
            for name, value in sorted(values.items())}

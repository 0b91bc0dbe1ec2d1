"""Names a user types, checked against the graph: "did you mean deepCoadd?".

A dataset type, collection, dimension or band that names nothing would otherwise make an
empty answer (``--type deepcoadd`` filters every dataset out).  Every command that takes
such a name checks it here first: one small query per kind (the graph's dataset types,
collections, dimensions, or the values of one dimension), so the check costs a round trip
and no more.  An unknown name raises :class:`UnknownName`, whose message names the unknown
value and the closest known ones (a case-insensitive match first, then
:func:`difflib.get_close_matches`).  A name that is known but matches no dataset is not an
error here: the caller answers it with the empty answer.
"""

from __future__ import annotations

import difflib
from functools import partial

from lineage.core.errors import UnknownName
from lineage.dataunits.queries import (collection_names, dataset_type_names,
                                       dimension_values, metric_names, stored_dimensions)

#: What a user may name (the noun the message uses) -> the query listing the known names.
KNOWN = {
    "dataset type": dataset_type_names,
    "collection": collection_names,
    "dimension": stored_dimensions,
    "band": partial(dimension_values, dimension="band"),
    "instrument": partial(dimension_values, dimension="instrument"),
    "metric": metric_names,
    "CSC": partial(dimension_values, dimension="csc"),
}

#: Dimensions whose values are a short vocabulary to suggest from when a selector names a
#: value none of their units has (a visit or patch number is not worth a guess).
NAMED_DIMENSIONS = ("band", "instrument", "skymap", "physical_filter")

#: Most suggestions in one message; most known names listed when none is close.
MOST_SUGGESTED = 3
MOST_LISTED = 12


def closest(value: str, known) -> list[str]:
    """The known names closest to ``value``: those equal to it but for case, else up to
    :data:`MOST_SUGGESTED` similar ones (best first); [] when none is close."""
    by_lower: dict[str, list[str]] = {}
    for name in sorted(str(n) for n in known):
        by_lower.setdefault(name.lower(), []).append(name)
    wanted = str(value).lower()
    if wanted in by_lower:
        return by_lower[wanted]
    similar = difflib.get_close_matches(wanted, list(by_lower), n=MOST_SUGGESTED)
    return [name for lower in similar for name in by_lower[lower]][:MOST_SUGGESTED]


def _hint(value: str, known) -> str:
    """``; did you mean a or b?``, else the known names (or how many there are)."""
    close = closest(value, known)
    if close:
        listed = " or ".join([", ".join(close[:-1]), close[-1]] if len(close) > 1 else close)
        return f"; did you mean {listed}?"
    names = sorted(str(n) for n in known)
    if not names:
        return " (there are none in this repository)"
    if len(names) > MOST_LISTED:
        return f" (none of the {len(names)} known is close)"
    return f" (known: {', '.join(names)})"


def unknown_name(noun: str, value, known, field: str | None = None,
                 selector: str | None = None) -> UnknownName:
    """The error for ``value``, which names no ``noun`` among ``known``: about the library
    argument ``field`` (``'deepcoadd': no such dataset type; did you mean deepCoadd?``,
    which the interfaces prefix with the option or input), or about a pair of the
    ``selector`` text (``bad selector 'band=G': no band 'G'; did you mean g?``)."""
    hint = _hint(value, known)
    if field:
        return UnknownName(f"{value!r}: no such {noun}{hint}", field=field)
    if selector is not None:
        return UnknownName(f"bad selector {selector!r}: no {noun} {value!r}{hint}")
    return UnknownName(f"no {noun} {value!r}{hint}")


def check_names(store, noun: str, values, field: str) -> None:
    """Raise :class:`UnknownName` for the first of ``values`` that names no ``noun`` (a key
    of :data:`KNOWN`) in the graph; no query when ``values`` is empty or None.  ``field`` is
    the library's name of the argument the values came in (``types``, ``collection``)."""
    values = [values] if isinstance(values, str) else list(values or ())
    if not values:
        return
    known = set(KNOWN[noun](store))
    for value in values:
        if value not in known:
            raise unknown_name(noun, value, known, field)


def unknown(store, noun: str, value, field: str | None = None) -> UnknownName:
    """The error for ``value``, which the caller found names no ``noun`` (a key of
    :data:`KNOWN`), with the names the graph knows read for the message."""
    return unknown_name(noun, value, KNOWN[noun](store), field)

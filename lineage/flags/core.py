"""What every part of flagging shares: the error, the verdicts, times, and
the rule for "active at a time"."""

from __future__ import annotations

from lineage.core.time import parse_utc_stamp, utc_stamp_of_tai
from lineage.traversal.traverse import FRONTIER_CHUNK
from lineage.traversal.traverse import collection_members
from lineage.flags import queries
from lineage.core.errors import UserError


VERDICTS = ("bad", "suspect")


class FlagError(UserError):
    """A flag operation that cannot be done as asked; the message says why."""


def chunks(keys, size=FRONTIER_CHUNK):
    keys = sorted(keys)
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


# --- times (flag times are UTC stamps, quantum times TAI: lineage.core.time) -----------

def as_of_time(store, as_of: str | None) -> str | None:
    """The UTC time an ``--as-of`` value stands for: an ISO date/time, or a release.

    A release (a collection name, or a chained collection's ``release``) stands
    for its ``released_at`` property (UTC) if it has one, else for the end of
    the last quantum in its RUN collections (stored in TAI, converted to UTC).
    """
    if as_of is None:
        return None
    t = parse_utc_stamp(as_of)
    if t is not None:
        return t
    rows = queries.releases_named(store, as_of)
    if not rows:
        raise FlagError(f"{as_of!r}: not an ISO date or time, and no release or collection of "
                        "that name", field="as_of")
    name, released = rows[0]
    if released:
        return parse_utc_stamp(released) or released
    runs, _ = collection_members(store, name)
    end = queries.last_quantum_end(store, runs)
    if not end:
        raise FlagError(f"{as_of!r}: the release has no released_at and no quanta",
                        field="as_of")
    return utc_stamp_of_tai(end)

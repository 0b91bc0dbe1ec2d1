"""What every part of flagging shares: the error, the verdicts, times, and
the rule for "active at a time"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lineage.traversal.traverse import FRONTIER_CHUNK
from lineage.traversal.traverse import collection_members
from lineage.core.errors import UserError


VERDICTS = ("bad", "suspect")

#: TAI - UTC since 2017-01-01 (quantum times are TAI, flag times UTC).
TAI_MINUS_UTC = timedelta(seconds=37)


class FlagError(UserError):
    """A flag operation that cannot be done as asked; the message says why."""


def chunks(keys, size=FRONTIER_CHUNK):
    keys = sorted(keys)
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


# --- times ---------------------------------------------------------------------

def now_utc() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(t: datetime) -> str:
    """One fixed format, so stored times compare correctly as strings in every engine."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> str | None:
    """An ISO date or time (UTC unless it says otherwise) in the stored format; None if not one."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return _iso(t)


def as_of_time(store, as_of: str | None) -> str | None:
    """The UTC time an ``--as-of`` value stands for: an ISO date/time, or a release.

    A release (a collection name, or a chained collection's ``release``) stands
    for its ``released_at`` property (UTC) if it has one, else for the end of
    the last quantum in its RUN collections (stored in TAI, converted to UTC).
    """
    if as_of is None:
        return None
    t = parse_time(as_of)
    if t is not None:
        return t
    rows = store.read("MATCH (c:Collection) WHERE c.release = $r OR c.name = $r "
                      "RETURN c.name, c.released_at ORDER BY c.name", {"r": as_of})
    if not rows:
        raise FlagError(f"{as_of!r}: not an ISO date or time, and no release or collection of "
                        "that name", field="as_of")
    name, released = rows[0]
    if released:
        return parse_time(released) or released
    runs, _ = collection_members(store, name)
    end = store.read("MATCH (q:Quantum) WHERE q.run IN $runs RETURN max(q.end)", {"runs": runs})
    if not end or not end[0][0]:
        raise FlagError(f"{as_of!r}: the release has no released_at and no quanta",
                        field="as_of")
    tai = datetime.fromisoformat(end[0][0]).replace(tzinfo=timezone.utc)
    return _iso(tai - TAI_MINUS_UTC)


def active_clause(var: str = "f") -> str:
    return (f"{var}.created_at <= $at AND "
            f"({var}.retracted_at IS NULL OR {var}.retracted_at > $at)")

"""Settings of the interpreter while bulk work runs (a diff, a sync, an ingest).

Bulk work allocates millions of containers (rows, dicts of properties, edge tuples) that
live until the unit is written and make no reference cycles.  The cyclic garbage
collector would walk the whole live heap again and again while it grows: a full
``lineage sync`` of 10^5 datasets spent 3.8 s of its 12 s of Python in it (19 full
collections), and a release diff at 10^6 datasets a release took 67 s with it, 48 s
without.  A reader thread that gives up the interpreter lock at every socket or SQLite
read waits for up to a switch interval (5 ms by default) to get it back; at 0.1 ms its
reads overlap the other thread's work.
"""

from __future__ import annotations

import gc
import sys
import threading
from contextlib import contextmanager

#: The thread switch interval while bulk work runs (seconds).
SWITCH_INTERVAL = 1e-4

_LOCK = threading.Lock()
_USERS = [0, None]   # bulk works running; (GC enabled, switch interval) before the first


@contextmanager
def bulk_work():
    """While the block runs: no cyclic garbage collection and a short thread switch
    interval.  Both are process-wide, so they are set by the first bulk work to start
    (an API server may run several at once) and put back by the last to end; a full
    collection then frees whatever cycles the work left."""
    with _LOCK:
        if _USERS[0] == 0:
            _USERS[1] = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _USERS[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _USERS[0] -= 1
            if _USERS[0] == 0:
                enabled, interval = _USERS[1]
                sys.setswitchinterval(interval)
                if enabled:
                    gc.enable()

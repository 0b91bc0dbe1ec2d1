"""How long a search takes, for each kind of text (docs/search.md, "Speed").

    python scripts/bench_search.py --repo /tmp/exdemo [--runs 15] [TEXT ...]

For each text: the library's :func:`lineage.search.search` and the GraphQL ``search`` field
through the API in this process (FastAPI's test client: parsing, limits, thread pool and
the hits' nodes included; no socket), the median and the slowest of ``--runs`` runs after
one warm-up.  Without TEXT, one text of each kind on the default demo, and a flag when the
repository has one.  Reads only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lineage.search import search  # noqa: E402
from lineage.store.repo import open_store  # noqa: E402

#: One text of each kind, with what it stands for (the default demo's names).
DEFAULT_TEXTS = [
    ("visit number", "2026030100001"),
    ("visit=", "visit=2026030100001"),
    ("data ID", "tract=9813,patch=8,band=r"),
    ("type + data ID", "deepCoadd tract=9813,patch=8,band=r"),
    ("pasted data ID", "band=r,patch=8,skymap=demo_rings,tract=9813"),
    ("Butler data ID", "detector=5,instrument=DemoCam,visit=2026030100001"),
    ("broad data ID", "tract=9813,band=r"),
    ("dataset UUID", None),                 # the first deepCoadd's, read from the repository
    ("dataset key", None),
    ("collection", "DemoCam/runs/DR2"),
    ("release part", "DR2"),
    ("dataset type", "deepCoadd"),
    ("task", "calibrate"),
    ("visit conditions", "visit[seeing < 0.6 arcsec]"),
    ("unknown", "xyz"),
]

QUERY = """query($text: String!) { search(text: $text) { total truncated message
  hits { kind key label datasetType dataId run node { id } } } }"""


def timed(fn, runs: int) -> tuple[float, float]:
    """(median, slowest) milliseconds of ``runs`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("texts", nargs="*")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    store = open_store(args.repo)
    texts = [(t, t) for t in args.texts] or _default_texts(store)
    with TestClient(create_app(store=store), client=("127.0.0.1", 40000)) as client:
        def graphql(text):
            body = client.post("/graphql", json={"query": QUERY, "variables": {"text": text}})
            assert "errors" not in body.json(), body.text
        print(f"{'kind':18} {'text':52} {'total':>6} {'library ms':>16} {'GraphQL ms':>16}")
        for kind, text in texts:
            answer = search(store, text)
            lib = timed(lambda: search(store, text), args.runs)
            api = timed(lambda: graphql(text), args.runs)
            print(f"{kind:18} {text[:52]:52} {answer.total:>6} "
                  f"{lib[0]:7.1f} (max {lib[1]:5.1f}) {api[0]:7.1f} (max {api[1]:5.1f})")
    store.close()


def _default_texts(store) -> list[tuple[str, str]]:
    (coadd,) = store.read("MATCH (d:Dataset) WHERE d.dataset_type = 'deepCoadd' "
                          "RETURN d.key ORDER BY d.key LIMIT 1")[0]
    flags = store.read("MATCH (f:Flag) RETURN f.key ORDER BY f.key LIMIT 1")
    out = []
    for kind, text in DEFAULT_TEXTS:
        if kind == "dataset UUID":
            text = coadd.split(":", 1)[1]
        elif kind == "dataset key":
            text = coadd
        out.append((kind, text))
    if flags:
        out += [("flag key", flags[0][0]), ("flag prefix", flags[0][0][5:13])]
    return out


if __name__ == "__main__":
    main()

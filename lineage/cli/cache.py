"""``lineage cache prefetch|status|evict|clear``: the shared local cache of datastore files
and cutouts (docs/fetch.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import click

from lineage.cli.common import Repo, CliError, call, format_option, json_option
from lineage.cli.fetch import artifacts_of, human_bytes, name_failures, query_options
from lineage.cli.output import console, emit, print_json, table
from lineage.core.progress import progress_bar
from lineage.fetch.cache import Cache, parse_size
from lineage.fetch.transfer import failure


@click.group("cache")
def cache_group() -> None:
    """The shared local cache of datastore files and cutouts (LINEAGE_CACHE)."""


cache_option = click.option("--cache", "cache_dir", envvar="LINEAGE_CACHE", default=None,
                            type=click.Path(file_okay=False),
                            help="Cache directory (default: LINEAGE_CACHE or ~/.cache/lineage).")


def _cache(cache_dir, max_size=None):
    return call(Cache, cache_dir, max_size)


@cache_group.command("prefetch")
@query_options
@cache_option
@click.option("--max-size", default=None, help="Set the cache's size limit (e.g. 20G).")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=4, show_default=True)
@json_option
def cache_prefetch(query_text, repo, direction, types, depth, collection, variables, datastore,
                   include_deleted, cache_dir, max_size, workers, as_json):
    """Put the files of the datasets QUERY names into the cache, for offline use."""
    cache = _cache(cache_dir, max_size)
    with Repo(repo) as store:
        artifacts, _ = artifacts_of(store, repo, query_text, direction, types, depth,
                                    collection, variables, datastore, include_deleted)
    results = []
    with progress_bar("caching", len(artifacts), "datasets", not as_json) as advance:
        def one(a):
            try:
                path, copied = cache.fill(a)
                out = {"key": a.key, "path": str(path), "copied": copied}
            except Exception as exc:  # noqa: BLE001  (reported per dataset)
                out = {"key": a.key, "error": failure(a, exc)}
            advance()
            return out
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, artifacts))
    failed = [r for r in results if "error" in r]
    if as_json:
        print_json(results)
    else:
        copied = sum(r.get("copied", False) for r in results)
        console().print(f"{len(results) - len(failed)} datasets in the cache {cache.root} "
                        f"({copied} copied now, {len(results) - len(failed) - copied} there "
                        f"already); cache holds {human_bytes(cache.usage().bytes)}")
    if failed:
        name_failures([r["error"] for r in failed], "not cached")
        raise CliError(f"{len(failed)} datasets not cached; first: {failed[0]['error']}")


@cache_group.command("status")
@cache_option
@format_option
def cache_status(cache_dir, fmt):
    """What the cache holds and its size limit."""
    cache = _cache(cache_dir)
    usage = cache.usage()
    if fmt != "table":  # CSV and ECSV: one row per kind of entry
        emit(fmt, "", [{"kind": k, "files": v["files"], "bytes": v["bytes"]}
                       for k, v in usage.by_kind.items()], [],
             document={"root": str(cache.root), "max_bytes": cache.max_bytes,
                       "files": usage.files, "bytes": usage.bytes, "by_kind": usage.by_kind},
             units={"bytes": "byte"})
        return
    table(f"Cache {cache.root}", ["kind", "entries", "bytes"],
          [(k, v["files"], human_bytes(v["bytes"])) for k, v in usage.by_kind.items()]
          + [("[bold]total[/bold]", usage.files, human_bytes(usage.bytes))],
          f"limit {human_bytes(cache.max_bytes) if cache.max_bytes else 'none'}")


@cache_group.command("evict")
@cache_option
@click.option("--to", "to_size", default=None,
              help="Evict least recently used entries down to this size (default: the limit).")
@click.option("--max-size", default=None, help="Set the cache's size limit first (e.g. 20G).")
def cache_evict(cache_dir, to_size, max_size):
    """Remove least recently used entries until the cache fits its limit (or --to SIZE)."""
    cache = _cache(cache_dir, max_size)
    target = call(parse_size, to_size) if to_size else None
    freed = cache.evict(target)
    console().print(f"freed {human_bytes(freed)}; cache holds {human_bytes(cache.usage().bytes)}")


@cache_group.command("clear")
@cache_option
def cache_clear(cache_dir):
    """Empty the cache."""
    freed = _cache(cache_dir).clear()
    console().print(f"freed {human_bytes(freed)}")

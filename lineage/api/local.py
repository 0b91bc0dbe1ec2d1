"""Running an operation in-process, without a server (``lineage query``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lineage.api.context import CountingStore, Principal, RequestContext
from lineage.api.execute import run
from lineage.api.schema import build_schema
from lineage.api.settings import ApiSettings


async def run_local(store, document: str, variables: dict | None, operation_name: str | None,
                    repo_dir=None, settings: ApiSettings | None = None) -> dict:
    """The GraphQL answer for one operation; mutations are refused (no token: use the
    ``lineage flag`` commands, which record who)."""
    settings = settings or ApiSettings(state_dir=repo_dir)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="lineage-query") as pool:
        ctx = RequestContext(CountingStore(store), settings, pool, Principal(name="local"))
        return await run(build_schema().graphql_schema, ctx, document, variables, operation_name)

"""The HTTP side: FastAPI routes around the GraphQL schema.

* ``POST /graphql`` (and ``GET /graphql?query=...`` for queries): GraphQL;
* ``GET /graphql`` from a browser: GraphiQL, loaded from ``/graphiql/`` (assets
  shipped in the package, no external URL);
* ``GET /health``: the engine answers;
* ``GET /queries``, ``POST /queries/{name}``: saved named operations;
* ``/openapi.json`` and ``/docs``: the OpenAPI document of the non-GraphQL routes.
"""

from __future__ import annotations

import ipaddress
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from fastapi import Body, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .auth import AuditLog, TokenStore
from .context import CountingStore, Principal, RequestContext
from .errors import AccessDenied
from .execute import run
from .saved import SavedOperations
from .schema import build_schema
from .settings import ApiSettings

ASSETS = Path(__file__).parent / "graphiql"


class Health(BaseModel):
    status: str = Field(description="ok when the engine answered")
    engine: str = Field(description="falkordb (embedded) or bolt")
    dataset_types: int = Field(description="dataset types in the graph (a cheap live query)")


class SavedOperationInfo(BaseModel):
    name: str
    kind: str = Field(description="query or mutation")
    source: str = Field(description="file it comes from (relative to its folder)")
    variables: dict[str, str] = Field(description="variable name -> GraphQL type")
    description: str = ""


class GraphQLResponse(JSONResponse):
    """A GraphQL answer encoded with orjson (5-10x the standard encoder; the same JSON),
    falling back to the standard encoder for anything orjson refuses."""

    def render(self, content) -> bytes:
        try:
            return orjson.dumps(content)
        except (TypeError, orjson.JSONEncodeError):
            return super().render(content)


def _is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class Server:
    """What every request shares: the store, the schema, tokens, audit log, threads."""

    def __init__(self, store, settings: ApiSettings, owns_store: bool) -> None:
        self.store = store
        self.settings = settings
        self.owns_store = owns_store
        self.schema = build_schema().graphql_schema
        self.tokens = TokenStore(settings.state_dir) if settings.state_dir else None
        self.audit = AuditLog(settings.state_dir)
        self.pool = ThreadPoolExecutor(max_workers=settings.threads,
                                       thread_name_prefix="lineage-api")
        self.saved = SavedOperations.default(settings.state_dir)
        self.cache: dict = {}
        # the engine stops the library's reads at the request deadline too
        store.READ_TIMEOUT = settings.timeout

    def principal(self, request: Request) -> Principal:
        client = request.client.host if request.client else ""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AccessDenied("Authorization header: expected `Bearer <token>`")
            if self.tokens is None:
                raise AccessDenied("this server keeps no API tokens (it was started on a "
                                   "Bolt URI, not a repository directory)")
            record = self.tokens.verify(token)
            return Principal(record.name, record.role, record.id, client)
        access = self.settings.read_access
        if access == "open" or (access == "loopback" and _is_loopback(client)):
            return Principal(client=client)
        raise AccessDenied("reading needs an API token from this address (send "
                           "`Authorization: Bearer <token>`)")

    def context(self, principal: Principal) -> RequestContext:
        return RequestContext(CountingStore(self.store), self.settings, self.pool, principal,
                              self.tokens, self.audit, self.cache)

    async def execute(self, request: Request, query, variables, operation_name,
                      allow_mutations: bool) -> JSONResponse:
        try:
            principal = self.principal(request)
        except AccessDenied as exc:
            return JSONResponse({"errors": [{"message": str(exc),
                                             "extensions": {"code": "UNAUTHENTICATED"}}]},
                                status_code=401)
        body = await run(self.schema, self.context(principal), query, variables, operation_name,
                         allow_mutations)
        status = 200 if "data" in body else 400
        return GraphQLResponse(body, status_code=status)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.owns_store:
            self.store.close()


def _graphiql_page(root_path: str) -> str:
    base = root_path.rstrip("/")
    return (ASSETS / "page.html").read_text().replace("{{BASE}}", base)


def create_app(repo: str | os.PathLike | None = None, *, store=None,
               settings: ApiSettings | None = None) -> FastAPI:
    """The API over a repository directory (or Bolt URI), or over an open ``store``.

    Tokens and the audit log live in ``settings.state_dir``; for a repository
    directory that is the directory itself unless set otherwise.
    """
    settings = settings or ApiSettings()
    if repo is not None and settings.state_dir is None and "://" not in str(repo):
        settings.state_dir = Path(repo)
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owns = store is None
        if owns:
            from ..repo import open_store
            opened = open_store(repo)
        else:
            opened = store
        state["server"] = Server(opened, settings, owns)
        try:
            yield
        finally:
            state.pop("server").close()

    app = FastAPI(title="survey-lineage API",
                  description="Provenance and lineage of survey data. The GraphQL endpoint is "
                              "`/graphql` (its schema: `graphql/schema.graphql`); this document "
                              "covers the other routes.",
                  version="1", lifespan=lifespan)
    app.mount("/graphiql", StaticFiles(directory=ASSETS), name="graphiql")

    def server() -> Server:
        return state["server"]

    @app.post("/graphql", include_in_schema=False)
    async def graphql_post(request: Request):
        try:
            data = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"errors": [{"message": "body: not JSON; send "
                                             "{\"query\": \"...\", \"variables\": {...}}",
                                             "extensions": {"code": "BAD_REQUEST"}}]},
                                status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"errors": [{"message": "body: must be a JSON object with "
                                             "`query`", "extensions": {"code": "BAD_REQUEST"}}]},
                                status_code=400)
        return await server().execute(request, data.get("query"), data.get("variables"),
                                      data.get("operationName"), allow_mutations=True)

    @app.get("/graphql", include_in_schema=False)
    async def graphql_get(request: Request):
        params = request.query_params
        if "query" not in params:
            return HTMLResponse(_graphiql_page(request.scope.get("root_path", "")))
        variables = params.get("variables")
        if variables:
            try:
                variables = json.loads(variables)
            except ValueError:
                return JSONResponse({"errors": [{"message": "variables: not JSON",
                                                 "extensions": {"code": "BAD_REQUEST"}}]},
                                    status_code=400)
        return await server().execute(request, params.get("query"), variables or None,
                                      params.get("operationName"), allow_mutations=False)

    @app.get("/health", response_model=Health, summary="Is the engine answering?")
    async def health():
        s = server()
        ctx = s.context(Principal())
        try:
            n = (await ctx.run(s.store.read, "MATCH (t:DatasetType) RETURN count(t)"))[0][0]
        except Exception as exc:  # the engine is down: say so, with 503
            return JSONResponse({"status": f"engine not answering: {exc}",
                                 "engine": s.store.engine, "dataset_types": 0}, status_code=503)
        return Health(status="ok", engine=s.store.engine, dataset_types=int(n))

    @app.get("/queries", response_model=list[SavedOperationInfo],
             summary="Saved named operations (graphql/*.graphql and the repository's own)")
    async def list_saved():
        return [SavedOperationInfo(**op.info()) for op in server().saved.all()]

    @app.post("/queries/{name}", summary="Run a saved operation by name",
              description="The body is the operation's variables as a JSON object. The answer "
                          "is a GraphQL response (`data`, `errors`).")
    async def run_saved(name: str, request: Request,
                        variables: dict | None = Body(default=None)):
        s = server()
        try:
            op = s.saved.get(name)
        except KeyError as exc:
            return JSONResponse({"errors": [{"message": str(exc.args[0]),
                                             "extensions": {"code": "NOT_FOUND"}}]},
                                status_code=404)
        return await s.execute(request, op.document, variables, op.name, allow_mutations=True)

    return app

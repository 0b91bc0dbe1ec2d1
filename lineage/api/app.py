"""The HTTP side: FastAPI routes around the GraphQL schema.

* ``POST /graphql`` (and ``GET /graphql?query=...`` for queries): GraphQL;
* ``GET /graphql`` from a browser: GraphiQL, loaded from ``/graphiql/`` (assets
  shipped in the package, no external URL);
* ``GET /``: the lineage explorer (docs/explorer.md), loaded from ``/explorer/`` (assets
  shipped in the package, no external URL), which asks ``/graphql`` for everything;
* ``GET /health``: the engine answers;
* ``GET /queries``, ``POST /queries/{name}``: saved named operations;
* ``POST /api/v1/lineage``: an OpenLineage run event, stored all-or-nothing
  (:mod:`lineage.api.openlineage`; a token of role flagger or admin);
* ``GET /prov?ID=...``: IVOA ProvSAP, provenance in the IVOA Provenance Data Model
  (:mod:`lineage.api.provsap`), read as GraphQL reads are;
* ``GET /datasets/{uuid}/file``: a dataset's file from the server's datastore
  (:mod:`lineage.api.files`), read as GraphQL reads are (:meth:`Server.principal`);
* ``/openapi.json``: the OpenAPI document of the non-GraphQL routes.  FastAPI's
  ``/docs`` and ``/redoc`` pages are not served: they load their scripts from a CDN,
  so they break offline, and ``/openapi.json`` says all they would.

Every request is checked before a route sees it: its ``Host`` (and ``Origin``
when sent) must name this server (:func:`host_allowed`: DNS rebinding), a POST
body must be JSON (``application/json``; ``/graphql`` takes
``application/graphql`` too) and at most ``max_body_bytes``.  Malformed
requests get a 4xx answer with a GraphQL error body, never a 500.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import mimetypes
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import (FileResponse, HTMLResponse, JSONResponse, Response,
                               StreamingResponse)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from lineage.api.auth import AuditLog, TokenStore, require
from lineage.api.context import CountingStore, Principal, RequestContext
from lineage.api.errors import AccessDenied
from lineage.api.execute import run
from lineage.api.files import (HAS_PROVENANCE, NoFile, dataset_file, provenance_url,
                               server_datastore, stamped_file)
from lineage.api.openlineage import audited_event
from lineage.api.provsap import provsap
from lineage.api.saved import SavedOperations
from lineage.api.schema import build_schema
from lineage.api.settings import ApiSettings
from lineage.core.errors import LineageError
from lineage.fetch.datastore import RefusedPath
from lineage.store.repo import open_store

ASSETS = Path(__file__).parent / "graphiql"
EXPLORER = Path(__file__).parent / "explorer"


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


def _is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _json(body: dict, status: int) -> Response:
    """A JSON answer, rendered by orjson (an answer of 10,000 objects takes a few ms of the
    event loop, not tens); the json module for what orjson refuses (integers past 64 bits)."""
    try:
        content = orjson.dumps(body)
    except TypeError:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type="application/json")


class HttpError(Exception):
    """A malformed or refused HTTP request: its status and a GraphQL error body."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def response(self) -> JSONResponse:
        return JSONResponse({"errors": [{"message": str(self),
                                         "extensions": {"code": self.code}}]},
                            status_code=self.status)


# --- Host and Origin (DNS rebinding) -------------------------------------------------------

#: Names every server answers to (Jupyter's ``local_hostnames``).
LOCAL_NAMES = ("localhost",)


def _bare(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and "]" in host:
        return host[1:host.index("]")]
    return host


def host_name(header: str) -> str:
    """The name in a ``Host`` header (``name:port``, ``[v6]:port``), lower case."""
    header = header.strip()
    if header.startswith("["):
        return _bare(header)
    name, _, _ = header.partition(":") if header.count(":") == 1 else (header, "", "")
    return _bare(name)


def host_allowed(name: str, settings: ApiSettings, server_addr: str | None) -> bool:
    """True when ``name`` (a Host or Origin host) names this server: localhost, a loopback
    address, the address it listens on or was reached at, or a name allowed by settings.

    A page served from another name cannot reach a loopback server through DNS rebinding
    (a name of the attacker's that resolves to 127.0.0.1 after the page is loaded): its
    requests carry the attacker's name."""
    if not name:
        return False
    allowed = set(settings.allowed_hosts)
    if "*" in allowed:
        return True
    own = {*LOCAL_NAMES, *allowed}
    if settings.bind_host:
        own.add(_bare(settings.bind_host))
    if server_addr:
        own.add(_bare(server_addr))
    if name in own:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refuse_host(what: str, value: str, settings: ApiSettings) -> HttpError:
    names = ["localhost", "127.0.0.1", "[::1]"]
    bind = _bare(settings.bind_host or "")
    if bind in ("0.0.0.0", "::"):
        names.append("the address it was reached at")
    elif bind and bind not in ("127.0.0.1", "::1", "localhost"):
        names.append(settings.bind_host)
    names += [h for h in settings.allowed_hosts if h not in names]
    shown = value[:100].encode("utf-8", "replace").decode()
    return HttpError(403, f"{what} {shown!r} does not name this server (it answers to "
                          f"{', '.join(names)}): a web page may be calling it through DNS "
                          "rebinding. To serve it under another name, add the name to the "
                          "allowed hosts (LINEAGE_API_ALLOWED_HOSTS=name, names separated by "
                          "spaces; `*` allows any)", "FORBIDDEN_HOST")


def check_host(scope, settings: ApiSettings) -> None:
    """Raise HttpError 403 unless the request's Host and Origin name this server."""
    headers = {k.lower(): v for k, v in scope.get("headers") or ()}
    server = scope.get("server")
    addr = server[0] if server else None
    raw = headers.get(b"host")
    if raw is not None:
        host = raw.decode("latin-1")
        if not host_allowed(host_name(host), settings, addr):
            raise _refuse_host("Host", host, settings)
    raw = headers.get(b"origin")
    if raw is not None:
        origin = raw.decode("latin-1").strip()
        try:
            name = _bare(urlsplit(origin).hostname or "") if origin != "null" else ""
        except ValueError:
            name = ""
        if not host_allowed(name, settings, addr):
            raise _refuse_host("Origin", origin, settings)


class HostCheck:
    """ASGI middleware: refuses (403) any HTTP request whose Host or Origin does not name
    this server."""

    def __init__(self, app, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            try:
                check_host(scope, self.settings)
            except HttpError as exc:
                await exc.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- bodies ------------------------------------------------------------------------------------

JSON_TYPES = ("application/json",)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, settings: ApiSettings, types=JSON_TYPES) -> tuple[str, bytes]:
    """(media type, body) of a request, refused with 415 when the body is not of ``types``
    (a body a web page may send cross-site without asking: text/plain, forms) and with 413
    when it is larger than ``max_body_bytes`` (known from Content-Length before reading, or
    while reading)."""
    limit = settings.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise HttpError(400, f"Content-Length: {length[:40]!r} is not a number") from None
        if n > limit:
            raise HttpError(413, f"body: {n} bytes, the limit is {limit}",
                            "REQUEST_TOO_LARGE")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"body: more than {limit} bytes, the limit",
                            "REQUEST_TOO_LARGE")
        chunks.append(chunk)
    body = b"".join(chunks)
    media = _media_type(request)
    if body.strip() and not (media in types or (media.startswith("application/")
                                                and media.endswith("+json")
                                                and "application/json" in types)):
        raise HttpError(415, f"Content-Type: {media or 'none'!r}; send the body as "
                             f"{' or '.join(types)} (`Content-Type: application/json`)",
                        "UNSUPPORTED_MEDIA_TYPE")
    return media, body


def parse_json(body: bytes, what: str = "body"):
    """The JSON value of ``body`` (None when empty); 400 with the reason otherwise."""
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "surrogate" in msg:
            raise HttpError(400, f"{what}: a string holds a lone surrogate, which is not "
                                 f"Unicode ({msg}); send valid UTF-8") from None
        if "depth" in msg:
            raise HttpError(400, f"{what}: JSON nested too deeply ({msg})") from None
        raise HttpError(400, f"{what}: not JSON ({msg}); send "
                             "{\"query\": \"...\", \"variables\": {...}}") from None


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
        # requests run here, off the event loop (their store reads go to ``pool``)
        self.workers = ThreadPoolExecutor(max_workers=settings.request_threads,
                                          thread_name_prefix="lineage-request")
        # /health has its own thread: it answers whatever the requests are doing
        self.health_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-health")
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

    def refuse(self, request: Request, error: AccessDenied, query=None,
               operation_name=None) -> JSONResponse:
        """The 401 answer to a request refused for its credentials, audited (rate-limited)."""
        self.audit.refused_request(request, error, query, operation_name)
        return JSONResponse({"errors": [{"message": str(error),
                                         "extensions": {"code": "UNAUTHENTICATED"}}]},
                            status_code=401)

    def context(self, principal: Principal) -> RequestContext:
        return RequestContext(CountingStore(self.store), self.settings, self.pool, principal,
                              self.tokens, self.audit, self.cache)

    async def execute(self, request: Request, query, variables, operation_name,
                      allow_mutations: bool) -> JSONResponse:
        try:
            principal = self.principal(request)
        except AccessDenied as exc:
            return self.refuse(request, exc, query, operation_name)
        body = await run(self.schema, self.context(principal), query, variables, operation_name,
                         allow_mutations, workers=self.workers)
        status = 200 if "data" in body else 400
        return _json(body, status)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.workers.shutdown(wait=False, cancel_futures=True)
        self.health_pool.shutdown(wait=False, cancel_futures=True)
        if self.owns_store:
            self.store.close()


def _page(path: Path, root_path: str) -> str:
    """An HTML page of the package with ``{{BASE}}`` replaced by the server's root path."""
    return path.read_text().replace("{{BASE}}", root_path.rstrip("/"))


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
                  version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # CDN pages: no page that breaks offline
    app.mount("/graphiql", StaticFiles(directory=ASSETS), name="graphiql")
    app.mount("/explorer", StaticFiles(directory=EXPLORER), name="explorer")
    app.add_middleware(HostCheck, settings=settings)

    def server() -> Server:
        return state["server"]

    @app.post("/graphql", include_in_schema=False)
    async def graphql_post(request: Request):
        try:
            media, body = await read_body(request, settings,
                                          ("application/json", "application/graphql"))
            if media == "application/graphql":
                try:
                    query = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise HttpError(400, f"body: not UTF-8 ({exc.reason} at byte "
                                         f"{exc.start})") from None
                params = request.query_params
                return await server().execute(request, query, None,
                                              params.get("operationName"), allow_mutations=True)
            data = parse_json(body)
            if not isinstance(data, dict):
                raise HttpError(400, "body: must be a JSON object with `query` (one request "
                                     "at a time)")
        except HttpError as exc:
            return exc.response()
        return await server().execute(request, data.get("query"), data.get("variables"),
                                      data.get("operationName"), allow_mutations=True)

    @app.get("/graphql", include_in_schema=False)
    async def graphql_get(request: Request):
        params = request.query_params
        if "query" not in params:
            return HTMLResponse(_page(ASSETS / "page.html", request.scope.get("root_path", "")))
        variables = params.get("variables")
        try:
            if variables:
                variables = parse_json(variables.encode("utf-8", "surrogatepass"), "variables")
        except HttpError as exc:
            return exc.response()
        return await server().execute(request, params.get("query"), variables or None,
                                      params.get("operationName"), allow_mutations=False)

    @app.get("/", include_in_schema=False)
    async def explorer(request: Request):
        """The lineage explorer (docs/explorer.md): one page; its views are in its URL."""
        return HTMLResponse(_page(EXPLORER / "index.html", request.scope.get("root_path", "")))

    @app.get("/health", response_model=Health, summary="Is the engine answering?")
    async def health():
        s = server()
        loop = asyncio.get_running_loop()
        wait = min(s.settings.timeout, 5.0)
        try:
            n = await asyncio.wait_for(loop.run_in_executor(s.health_pool, s.store.ping), wait)
        except asyncio.TimeoutError:
            return JSONResponse({"status": f"engine not answering within {wait:g} s",
                                 "engine": s.store.engine, "dataset_types": 0}, status_code=503)
        except Exception as exc:  # the engine is down: say so, with 503
            return JSONResponse({"status": f"engine not answering: {exc}",
                                 "engine": s.store.engine, "dataset_types": 0}, status_code=503)
        return Health(status="ok", engine=s.store.engine, dataset_types=int(n))

    @app.get("/queries", response_model=list[SavedOperationInfo],
             summary="Saved named operations (graphql/*.graphql and the repository's own)")
    async def list_saved():
        return [SavedOperationInfo(**op.info()) for op in server().saved.all()]

    @app.post("/queries/{name}", summary="Run a saved operation by name",
              description="The body is the operation's variables as a JSON object "
                          "(`Content-Type: application/json`). The answer is a GraphQL "
                          "response (`data`, `errors`).",
              openapi_extra={"requestBody": {"required": False, "content": {
                  "application/json": {"schema": {"type": "object",
                                                   "additionalProperties": True}}}}})
    async def run_saved(name: str, request: Request):
        s = server()
        try:
            _, body = await read_body(request, settings)
            variables = parse_json(body)
            if variables is not None and not isinstance(variables, dict):
                raise HttpError(400, "body: must be a JSON object of the operation's "
                                     "variables")
        except HttpError as exc:
            return exc.response()
        try:
            op = s.saved.get(name)
        except KeyError as exc:
            return JSONResponse({"errors": [{"message": str(exc.args[0]),
                                             "extensions": {"code": "NOT_FOUND"}}]},
                                status_code=404)
        return await s.execute(request, op.document, variables, op.name, allow_mutations=True)

    @app.post("/api/v1/lineage", summary="Store an OpenLineage run event",
              description="One OpenLineage run event (JSON), read as `lineage ingest run` "
                          "reads one and stored all-or-nothing; needs a token of role "
                          "flagger or admin. 201 with what was stored; 400 naming the field "
                          "of an invalid event (nothing is stored).")
    async def openlineage_event(request: Request):
        s = server()
        try:
            principal = s.principal(request)
        except AccessDenied as exc:
            return s.refuse(request, exc)
        entry = {"operation": "openlineage event", "who": principal.name,
                 "token": principal.token_id, "role": principal.role,
                 "client": principal.client, "request": uuid.uuid4().hex}
        try:
            require(principal, "ingest", "storing OpenLineage events")
        except AccessDenied as exc:   # without a token: rate-limited, as a mutation's
            s.audit.refused({**entry, "outcome": "refused", "error": str(exc),
                             "reason": "no token" if principal.role is None else "role"},
                            principal.role is not None)
            return HttpError(403, str(exc), "FORBIDDEN").response()
        try:
            _, body = await read_body(request, settings)
        except HttpError as exc:
            return exc.response()
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(s.pool, audited_event, s.store, s.audit, entry,
                                             body)
        if outcome.status == "rejected":
            return HttpError(400, outcome.error, "BAD_INPUT").response()
        return JSONResponse({"status": outcome.status, "nodes": outcome.nodes_created,
                             "edges": outcome.edges_created}, status_code=201)

    @app.get("/prov", summary="Provenance (IVOA ProvSAP)", response_class=Response,
             description="ID (repeatable), DEPTH (0..64 or ALL; 1), DIRECTION (BACK or FORTH), "
                         "RESPONSEFORMAT (PROV-JSON, PROV-N, PROV-XML, PROV-VOTABLE), MODEL "
                         "(IVOA or W3C): docs/standards.md. Errors are DALI error VOTables.")
    async def prov_route(request: Request):
        return await provsap(server(), request)

    @app.get("/datasets/{dataset_uuid:path}/file", summary="A dataset's file",
             description="The file of the dataset with this UUID, from the server's datastore "
                         "(`Dataset.fileUrl` gives this path when the datastore holds it); "
                         "read as GraphQL queries are (a token unless the read access "
                         "allows the caller). 404 with a GraphQL error body for an unknown "
                         "dataset or a file the datastore does not have, 403 for a dataset "
                         "whose stored path would lead outside the datastore. Its `Link` "
                         "header gives its provenance (W3C PROV-AQ, `GET /prov`); with "
                         "`provenance=true` a FITS file comes with its provenance cards in "
                         "its primary header, as `lineage fetch --with-provenance` writes "
                         "them.",
             response_class=FileResponse)
    async def dataset_file_route(dataset_uuid: str, request: Request, provenance: bool = False):
        s = server()
        try:
            s.principal(request)
        except AccessDenied as exc:
            return s.refuse(request, exc)
        try:
            datastore = server_datastore(s.settings, s.cache)
            if datastore is None:
                raise HttpError(404, "this server has no datastore (its operator gives one "
                                     "when starting it)", "NOT_FOUND")
            loop = asyncio.get_running_loop()
            try:
                props, path = await loop.run_in_executor(s.pool, dataset_file, s.store,
                                                         datastore, dataset_uuid)
            except NoFile as exc:
                raise HttpError(404, str(exc), "NOT_FOUND") from None
            except RefusedPath as exc:
                raise HttpError(403, str(exc), "FORBIDDEN") from None
            prov_at = str(request.base_url).rstrip("/") + provenance_url(
                props["key"].split(":", 1)[1])
            try:
                stamped = await loop.run_in_executor(
                    s.pool, stamped_file, s.store, props["key"], path, prov_at
                ) if provenance else None
            except LineageError as exc:   # a FITS file whose primary header cannot be read
                raise HttpError(422, str(exc), "BAD_INPUT") from None
        except HttpError as exc:
            return exc.response()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        link = {"Link": f'<{prov_at}>; rel="{HAS_PROVENANCE}"'}
        if stamped is not None:
            return StreamingResponse(stamped, media_type=media_type, headers={
                **link, "Content-Disposition": "attachment; filename*=utf-8''"
                                               + quote(path.name)})
        return FileResponse(path, filename=path.name, media_type=media_type, headers=link)

    return app

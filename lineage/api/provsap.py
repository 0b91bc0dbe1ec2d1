"""``GET /prov``: the provenance of datasets and quanta as IVOA's Provenance Simple Access
Protocol (ProvSAP) asks for it, in the IVOA Provenance Data Model (docs/standards.md,
"IVOA provenance": :mod:`lineage.standards.ivoa`).

Parameters, with DALI's conventions: names in any case, ``ID`` repeatable, every other
parameter at most once; an unknown parameter or value is refused.  Every refusal is a DALI
error document (a VOTable whose ``QUERY_STATUS`` INFO says ``ERROR`` and why, naming the
parameter), never a 500 with a trace.  A request is read-authorised as a GraphQL read is
(:meth:`lineage.api.app.Server.principal`), and bounded as a lineage field is: DEPTH at
most :data:`lineage.traversal.traverse.MAX_STEPS` steps (ALL is that many), at most
:data:`MAX_DATASETS` datasets, the server's request timeout; the traversal and the
document are built in the server's thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response

from lineage.api.errors import AccessDenied
from lineage.core.errors import LineageError
from lineage.standards.ivoa import (DIRECTIONS, FORMATS, MEDIA_TYPES, MODELS,
                                    ProvenanceRequestError, error_votable, provenance, serialize)
from lineage.traversal.traverse import MAX_STEPS

log = logging.getLogger("lineage.api")

#: DEPTH when not given: one step, the quantum that made (or used) each ID and its datasets.
DEFAULT_DEPTH = 1

#: Most datasets one answer may describe: the downstream of 10 raws of the default demo,
#: 4,287 datasets (54,333 records), took 2.2 s to build and 2.3 s to write as PROV-VOTABLE
#: (16 MB), well inside the default 10 s request timeout.
MAX_DATASETS = 5_000

#: The error document's media type.
VOTABLE = "application/x-votable+xml"

#: Optional ProvSAP switches this server accepts only as FALSE: its documents hold no
#: collections (MEMBERS), no activity flows (STEPS), and never follow an agent to the other
#: activities it took part in (AGENT).
UNSUPPORTED_SWITCHES = {"MEMBERS": "the documents hold no collections",
                        "STEPS": "the documents hold no activity flows",
                        "AGENT": "agents are described, never followed to other activities"}

PARAMETERS = ("ID", "DEPTH", "DIRECTION", "RESPONSEFORMAT", "MODEL", *UNSUPPORTED_SWITCHES)


@dataclass
class ProvRequest:
    """A ProvSAP request, its parameters checked."""

    ids: list[str] = field(default_factory=list)
    depth: int | None = DEFAULT_DEPTH   # None: ALL
    direction: str = "BACK"
    response_format: str = "PROV-JSON"
    model: str = "IVOA"


def _choice(name: str, value: str, known) -> str:
    chosen = value.strip().upper()
    if chosen not in known:
        raise ProvenanceRequestError(f"{value[:100]!r} is not one of {', '.join(known)}",
                                     field=name)
    return chosen


def _depth(value: str) -> int | None:
    text = value.strip()
    if text.upper() == "ALL":
        return None
    if not (text.isascii() and text.isdigit()):   # "²".isdigit(), but int("²") fails
        raise ProvenanceRequestError(f"{value[:100]!r} is not a non-negative integer or ALL",
                                     field="DEPTH")
    depth = int(text)
    if depth > MAX_STEPS:
        raise ProvenanceRequestError(f"{depth} is more than {MAX_STEPS}, this server's "
                                     "limit (ALL)", field="DEPTH")
    return depth


def _response_format(value: str) -> str:
    text = value.strip()
    media = text.split(";", 1)[0].strip().lower()
    return MEDIA_TYPES.get(media) or _choice("RESPONSEFORMAT", text, FORMATS)


def parse_request(items) -> ProvRequest:
    """The request of the query's ``(name, value)`` pairs; :class:`ProvenanceRequestError`
    naming the parameter otherwise."""
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(name.upper(), []).append(value)
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ProvenanceRequestError(f"not a parameter of this service (it takes "
                                     f"{', '.join(PARAMETERS)})", field=unknown[0] or "''")
    for name, given in values.items():
        if name != "ID" and len(given) > 1:
            raise ProvenanceRequestError("given more than once", field=name)
    request = ProvRequest(ids=[v for v in values.get("ID", ()) if v.strip()])
    if not request.ids:
        raise ProvenanceRequestError("required: the dataset or quantum to describe (a "
                                     "dataset UUID, dataset:<uuid> or quantum:<uuid>)",
                                     field="ID")
    if "DEPTH" in values:
        request.depth = _depth(values["DEPTH"][0])
    if "DIRECTION" in values:
        request.direction = _choice("DIRECTION", values["DIRECTION"][0], DIRECTIONS)
    if "RESPONSEFORMAT" in values:
        request.response_format = _response_format(values["RESPONSEFORMAT"][0])
    if "MODEL" in values:
        request.model = _choice("MODEL", values["MODEL"][0], MODELS)
    for name, why in UNSUPPORTED_SWITCHES.items():
        if name in values and _choice(name, values[name][0], ("FALSE", "TRUE")) == "TRUE":
            raise ProvenanceRequestError(f"TRUE is not supported here ({why}); give FALSE "
                                         "or leave it out", field=name)
    return request


def answer(store, request: ProvRequest) -> bytes:
    """The document the request asks for, serialised (run in the server's thread pool)."""
    doc = provenance(store, request.ids, request.direction, request.depth, request.model,
                     max_datasets=MAX_DATASETS)
    return serialize(doc, request.response_format)


def error_response(message: str, status: int) -> Response:
    """A DALI error document answered with ``status``."""
    return Response(error_votable(message), status_code=status, media_type=VOTABLE)


async def provsap(server, request: Request) -> Response:
    """The ``GET /prov`` route of ``server`` (:class:`lineage.api.app.Server`)."""
    try:
        server.principal(request)
    except AccessDenied as exc:   # audited and answered as a refused GraphQL read
        server.audit.refused_request(request, exc)
        return error_response(str(exc), 401)
    try:
        prov_request = parse_request(request.query_params.multi_items())
    except ProvenanceRequestError as exc:
        return error_response(f"{exc.field}: {exc}", 400)
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(server.pool, answer, server.store, prov_request)
    timeout = server.settings.timeout
    try:
        body = await asyncio.wait_for(work, timeout)
    except asyncio.TimeoutError:
        return error_response(f"the provenance took longer than {timeout:g} s, this "
                              "server's limit: ask for a smaller DEPTH", 503)
    except ProvenanceRequestError as exc:
        return error_response(f"{exc.field}: {exc}", 400)
    except LineageError as exc:   # the library refused the question
        return error_response(str(exc), 400)
    except Exception:  # a bug or the engine: logged, no details to the client
        log.exception("internal error in GET /prov")
        return error_response("internal error (logged by the server)", 500)
    return Response(body, media_type=FORMATS[prov_request.response_format][0])

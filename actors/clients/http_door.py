"""The HTTP door: a running system's app over HTTP/JSON (Starlette on uvicorn, over AsyncEncore).

    POST /commands/{Type}        body: the command's fields as a JSON object; header
                                 Idempotency-Key: the command id (a retry with it applies once);
                                 X-Correlation-Id and X-Encore-Meta-<name>: its events' meta
                                 200 accepted (position, version, events), 409 rejected (code,
                                 message), 422 invalid (pydantic's field errors), 503 unavailable
                                 or timed out, 500 failed (not written): retry with the same key
    GET  /queries/{Type}?field=value&after=N&timeout=S   timeout at most MAX_QUERY_TIMEOUT_S (60 s);
                                 a query waiting for `after` holds no worker thread
    GET  /events?after=N&types=A,B&streams=S&categories=C   Server-Sent Events from a subscription
                                 (each event's id is its offset: Last-Event-ID resumes)
    GET  /status                 the system's status
    GET  /openapi.json           generated from the app's pydantic commands and queries

Every error is a JSON object {status, error, message} that says what was wrong. The door bounds
what it holds: at most `max_requests` requests in flight and `max_streams` event streams open;
beyond either it answers 503 with Retry-After. A stream's subscription, threads and endpoint are
released when its client goes, however it goes.
"""

from __future__ import annotations

import contextlib
import json
import typing
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from actors.errors import AskTimeout, EncoreError, Unavailable, ValidationFailed
from actors.protocol.metadata import MAX_ID_CHARS
from actors.protocol.wire import check_position, check_timeout

from .async_client import AsyncEncore
from .fields import parse_fields
from .sync_client import CommandResult

MAX_BODY_BYTES = 1 << 20
MAX_QUERY_TIMEOUT_S = 60.0
DEFAULT_MAX_REQUESTS = 1024
DEFAULT_MAX_STREAMS = 100
RETRY_AFTER_S = 1
MAX_KEY_CHARS = 200
META_PREFIX = "x-encore-meta-"   # HTTP headers that become a command's metadata (lower-cased names)
STATUS_CODES = {"accepted": 200, "rejected": 409, "invalid": 422, "unavailable": 503, "timeout": 503, "failed": 500}


def create_app(open_client: Callable[[], Any], *, max_requests: int = DEFAULT_MAX_REQUESTS,
               max_streams: int = DEFAULT_MAX_STREAMS) -> Any:
    """The ASGI app; `open_client()` gives the AsyncEncore to use (awaitable), opened at start-up
    and closed at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.encore = await open_client()
        try:
            yield
        finally:
            await app.state.encore.close()

    routes = [
        Route("/commands/{type}", send_command, methods=["POST"]),
        Route("/queries/{type}", ask_query, methods=["GET"]),
        Route("/events", stream_events, methods=["GET"]),
        Route("/status", show_status, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.streams = Gate(max_streams)
    return Bounded(app, Gate(max_requests))


def attached(data_dir: Path, **limits: int) -> Any:
    return create_app(lambda: AsyncEncore.attach(data_dir), **limits)


class Gate:
    """A count of what is open, refused past its limit."""

    def __init__(self, limit: int) -> None:
        if type(limit) is not int or limit < 1:
            raise ValidationFailed(f"limit={limit!r}: give a whole number of 1 or more")
        self.limit, self.open = limit, 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class Bounded:
    """ASGI middleware: at most `gate.limit` HTTP requests in flight (event streams are counted
    by their own gate); beyond, 503 with Retry-After."""

    def __init__(self, app: Starlette, gate: Gate) -> None:
        self.app, self.gate = app, gate

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") == "/events":
            await self.app(scope, receive, send)
            return
        if not self.gate.enter():
            await _busy("requests", self.gate.limit)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()


def _busy(what: str, limit: int) -> JSONResponse:
    response = _error(503, "Busy", f"the door has {limit} {what} open, its limit; retry after {RETRY_AFTER_S}s")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _encore(request: Request) -> AsyncEncore:
    encore: AsyncEncore = request.app.state.encore
    return encore


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": "error" if status >= 500 else "invalid", "error": kind, "message": message,
                         **extra}, status_code=status)


def _from_exception(error: EncoreError) -> JSONResponse:
    if isinstance(error, ValidationFailed):
        return _error(422, "ValidationFailed", str(error), errors=error.errors)
    if isinstance(error, AskTimeout | Unavailable):
        return _error(503, type(error).__name__, str(error))
    return _error(500, type(error).__name__, str(error))


# ---------------------------------------------------------------- commands


async def send_command(request: Request) -> Response:
    encore, type_name = _encore(request), request.path_params["type"]
    if type_name not in encore.app.commands:
        known = ", ".join(sorted(encore.app.commands))
        return _error(404, "UnknownCommand", f"no command type {type_name!r}; known: {known}")
    body = await _body(request)
    if isinstance(body, Response):
        return body
    command_id = request.headers.get("idempotency-key")
    if command_id is not None and not (0 < len(command_id) <= MAX_KEY_CHARS and command_id.isprintable()):
        return _error(422, "ValidationFailed",
                      f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} printable characters")
    try:
        command = encore.app.parse_command(type_name, body)
        result = await encore.submit(command, command_id=command_id, **_meta_headers(request))
    except EncoreError as e:
        return _from_exception(e)
    return JSONResponse(_result_body(result), status_code=STATUS_CODES.get(result.status, 500))


def _meta_headers(request: Request) -> dict[str, Any]:
    """X-Correlation-Id and the X-Encore-Meta-<name> headers, as `ask` takes them (checked there)."""
    headers = {name[len(META_PREFIX):]: value
               for name, value in request.headers.items() if name.startswith(META_PREFIX)}
    return {"correlation_id": request.headers.get("x-correlation-id"), "metadata": headers}


async def _body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the response that says why it is not one."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _error(413, "TooLarge", f"a command body is at most {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, "TooLarge", f"a command body is at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as e:
        return _error(400, "BadJson", f"the body is not valid JSON ({str(e)[:120]}); send the fields as a JSON object")
    if not isinstance(body, dict):
        return _error(422, "ValidationFailed", f"the body must be a JSON object of fields, not {type(body).__name__}")
    return body


def _result_body(result: CommandResult) -> dict[str, Any]:
    return {k: v for k, v in vars(result).items() if v not in (None, [])}


# ---------------------------------------------------------------- queries and status


async def ask_query(request: Request) -> Response:
    encore, type_name = _encore(request), request.path_params["type"]
    if type_name not in encore.app.queries:
        known = ", ".join(sorted(encore.app.queries))
        return _error(404, "UnknownQuery", f"no query type {type_name!r}; known: {known}")
    params = dict(request.query_params)
    try:
        after = check_position(_integer(params.pop("after", "0"), "after"))
        timeout = check_timeout(_number(params.pop("timeout", "5"), "timeout"))
        if timeout > MAX_QUERY_TIMEOUT_S:
            raise ValidationFailed(f"timeout={timeout:g} is too long for the door: give at most "
                                   f"{MAX_QUERY_TIMEOUT_S:.0f} seconds")
        fields = parse_fields([f"{k}={v}" for k, v in params.items()], encore.app.queries[type_name][0])
        answer = await encore.query_raw(type_name, fields, after=after, timeout=timeout)
    except EncoreError as e:
        return _from_exception(e)
    return JSONResponse(to_jsonable_python(answer))   # a Decimal, a date, a UUID as their JSON forms


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValidationFailed(f"{name}={text[:40]!r} is not an integer") from None


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(f"{name}={text[:40]!r} is not a number of seconds") from None


async def show_status(request: Request) -> Response:
    try:
        return JSONResponse(await _encore(request).status())
    except EncoreError as e:
        return _from_exception(e)


# ---------------------------------------------------------------- events


async def stream_events(request: Request) -> Response:
    """Server-Sent Events from a subscription; the stream ends when the client goes away."""
    params = request.query_params
    try:
        after = check_position(_integer(request.headers.get("last-event-id") or params.get("after", "0"), "after"))
    except ValidationFailed as e:
        return _from_exception(e)
    types, streams, categories = (params[name].split(",") if params.get(name) else None
                                  for name in ("types", "streams", "categories"))
    raw = params.get("raw", "0") not in ("0", "false", "")
    encore, gate = _encore(request), request.app.state.streams
    if not gate.enter():
        return _busy("event streams", gate.limit)
    release = _Once(gate.leave)   # by the stream's end, or after the response if it never began

    async def events() -> AsyncIterator[str]:
        subscription = encore.subscribe(after, types=types, streams=streams, categories=categories, raw=raw)
        try:
            yield ": subscribed\n\n"   # headers and a first byte at once
            async for event in subscription:
                data = json.dumps({**event.envelope(), "data": event.data})
                yield f"id: {event.offset}\nevent: {event.type}\ndata: {data}\n\n"
        except EncoreError as e:
            yield f"event: error\ndata: {json.dumps({'error': type(e).__name__, 'message': str(e)})}\n\n"
        finally:   # however the stream ends: its client went, an error, the door stopping
            release()
            await subscription.aclose()

    async def release_after() -> None:   # (async: a plain function would be run on a worker thread)
        release()

    return StreamingResponse(events(), media_type="text/event-stream", background=BackgroundTask(release_after),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _Once:
    def __init__(self, action: Callable[[], None]) -> None:
        self.action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self.action = self.action, None
        if action is not None:
            action()


# ---------------------------------------------------------------- OpenAPI


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(_encore(request).app))


def openapi_document(app: Any) -> dict[str, Any]:
    """OpenAPI 3.1 for the app: one path per command and per query, their bodies and parameters
    from pydantic, the answers of each (a query's from its handler's return annotation, when it
    has one), the events stream and the status."""
    schemas: dict[str, Any] = dict(_RESULT_SCHEMAS)
    paths: dict[str, Any] = {}
    for name, (model, *_) in sorted(app.commands.items()):
        schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schemas[name].pop("$defs", {}))
        paths[f"/commands/{name}"] = {"post": _command_operation(name, model)}
    for name, (model, view) in sorted(app.queries.items()):
        paths[f"/queries/{name}"] = {"get": _query_operation(name, model, app.projections[view], schemas)}
    paths["/events"] = {"get": {
        "summary": "the log as Server-Sent Events", "operationId": "events",
        "parameters": [_parameter("after", "integer", "events after this offset (Last-Event-ID resumes)"),
                       *(_parameter(n, "string", f"comma-separated {n} to keep") for n in
                         ("types", "streams", "categories"))],
        "responses": {"200": {"description": "text/event-stream: id (the offset), event (the type), data (JSON)"},
                      "503": _response("Error", "too many streams open: retry after Retry-After")}}}
    paths["/status"] = {"get": {"summary": "the system's status: every actor, the log head", "operationId": "status",
                                "responses": {"200": {"description": "the status", "content": {
                                    "application/json": {"schema": {"type": "object"}}}},
                                    "503": _response("Error", "unavailable")}}}
    return {"openapi": "3.1.0", "info": {"title": f"Encore: {app.name}", "version": "1"},
            "paths": paths, "components": {"schemas": schemas}}


def _command_operation(name: str, model: Any) -> dict[str, Any]:
    return {
        "summary": (model.__doc__ or name).strip().splitlines()[0], "operationId": f"command_{name}",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": MAX_KEY_CHARS},
                        "description": "the command id: a retry with the same key applies once"},
                       {"name": "X-Correlation-Id", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": MAX_ID_CHARS},
                        "description": "shared by every event this command sets off (default: the command id)"}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{name}"}}}},
        "responses": {"200": _response("Accepted", "accepted: the events it recorded and their position"),
                      "409": _response("Rejected", "rejected by the domain: its code and message"),
                      "422": _response("Error", "invalid: what is wrong with which field"),
                      "400": _response("Error", "the body is not JSON"),
                      "413": _response("Error", f"the body is over {MAX_BODY_BYTES} bytes"),
                      "500": _response("Error", "failed, nothing written: retry with the same key"),
                      "503": _response("Error", "unavailable, timed out or busy: retry with the same key")},
    }


def _query_operation(name: str, model: Any, projection: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    parameters = [{"name": field, "in": "query", "required": info.is_required(),
                   "schema": model.model_json_schema()["properties"].get(field, {})}
                  for field, info in model.model_fields.items()]
    parameters += [_parameter("after", "integer", "answer from a view that has applied this log offset"),
                   _parameter("timeout", "number", f"seconds to wait for `after` (at most {MAX_QUERY_TIMEOUT_S:.0f})")]
    answer: dict[str, Any] = {"description": "the answer"}
    returns = _return_type(projection, model)
    if returns is not None:
        schema = TypeAdapter(returns).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        answer["content"] = {"application/json": {"schema": schema}}
    return {"summary": (model.__doc__ or name).strip().splitlines()[0], "operationId": f"query_{name}",
            "parameters": parameters,
            "responses": {"200": answer, "422": _response("Error", "invalid"), "404": _response("Error", "unknown"),
                          "503": _response("Error", "unavailable, timed out or busy")}}


def _return_type(projection: Any, query_type: Any) -> Any:
    """What the projection's handler of `query_type` declares it returns, if it does."""
    handler = getattr(projection, projection.encore_answers[query_type])
    try:
        return typing.get_type_hints(handler).get("return")
    except Exception:   # an annotation that does not resolve: no schema, as with none
        return None


def _parameter(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


def _response(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_RESULT_SCHEMAS: dict[str, Any] = {
    "Accepted": {"type": "object", "required": ["status", "command_id", "stream", "version", "position"],
                 "properties": {"status": {"const": "accepted"}, "command_id": {"type": "string"},
                                "stream": {"type": "string"}, "version": {"type": "integer"},
                                "position": {"type": "integer"}, "duplicate": {"type": "boolean"},
                                "events": {"type": "array", "items": {"type": "object", "properties": {
                                    "type": {"type": "string"}, "data": {"type": "object"}}}}}},
    "Rejected": {"type": "object", "required": ["status", "command_id", "code", "message"],
                 "properties": {"status": {"const": "rejected"}, "command_id": {"type": "string"},
                                "code": {"type": "string"}, "message": {"type": "string"},
                                "stream": {"type": "string"}, "version": {"type": "integer"},
                                "position": {"type": "integer"}, "duplicate": {"type": "boolean"}}},
    "Error": {"type": "object", "required": ["status", "error", "message"],
              "properties": {"status": {"type": "string"}, "error": {"type": "string"},
                             "message": {"type": "string"},
                             "errors": {"type": "array", "items": {"type": "object", "properties": {
                                 "field": {"type": "string"}, "reason": {"type": "string"},
                                 "type": {"type": "string"}}}}}},
}

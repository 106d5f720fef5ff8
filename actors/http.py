"""The HTTP door: a running system's app over HTTP/JSON (Starlette on uvicorn, over AsyncEncore).

    POST /commands/{Type}        body: the command's fields as a JSON object; header
                                 Idempotency-Key: the command id (a retry with it applies once)
                                 200 accepted (position, version, events), 409 rejected (code,
                                 message), 422 invalid (pydantic's field errors), 503 unavailable
                                 or timed out, 500 failed (not written): retry with the same key
    GET  /queries/{Type}?field=value&after=N&timeout=S
    GET  /events?after=N&types=A,B&streams=S&categories=C   Server-Sent Events from a subscription
                                 (each event's id is its offset: Last-Event-ID resumes)
    GET  /status                 the system's status
    GET  /openapi.json           generated from the app's pydantic commands and queries

Every error is a JSON object {status, error, message} that says what was wrong.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .async_client import AsyncEncore
from .client import CommandResult
from .errors import AskTimeout, EncoreError, Unavailable, ValidationFailed
from .fields import parse_fields
from .wire import check_position, check_timeout

MAX_BODY_BYTES = 1 << 20
MAX_KEY_CHARS = 200
STATUS_CODES = {"accepted": 200, "rejected": 409, "invalid": 422, "unavailable": 503, "timeout": 503, "failed": 500}


def create_app(open_client: Callable[[], Any]) -> Starlette:
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
    return Starlette(routes=routes, lifespan=lifespan)


def attached(data_dir: Path) -> Starlette:
    return create_app(lambda: AsyncEncore.attach(data_dir))


def _encore(request: Request) -> AsyncEncore:
    return request.app.state.encore


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
        result = await encore.submit(command, command_id=command_id)
    except EncoreError as e:
        return _from_exception(e)
    return JSONResponse(_result_body(result), status_code=STATUS_CODES.get(result.status, 500))


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
        fields = parse_fields([f"{k}={v}" for k, v in params.items()], encore.app.queries[type_name][0])
        answer = await encore.query_raw(type_name, fields, after=after, timeout=timeout)
    except EncoreError as e:
        return _from_exception(e)
    return JSONResponse(answer)


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
    encore = _encore(request)

    async def events() -> AsyncIterator[str]:
        yield ": subscribed\n\n"   # headers and a first byte at once
        subscription = encore.subscribe(after, types=types, streams=streams, categories=categories)
        try:
            async for event in subscription:
                data = json.dumps({"offset": event.offset, "stream": event.stream, "version": event.version,
                                   "type": event.type, "data": event.data, "time": event.time})
                yield f"id: {event.offset}\nevent: {event.type}\ndata: {data}\n\n"
        except EncoreError as e:
            yield f"event: error\ndata: {json.dumps({'error': type(e).__name__, 'message': str(e)})}\n\n"
        finally:
            await subscription.aclose()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------- OpenAPI


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(_encore(request).app))


def openapi_document(app: Any) -> dict[str, Any]:
    """OpenAPI 3.1 for the app: one path per command and per query, schemas from pydantic."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, (model, *_) in sorted(app.commands.items()):
        schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schemas[name].pop("$defs", {}))
        paths[f"/commands/{name}"] = {"post": {
            "summary": (model.__doc__ or name).strip().splitlines()[0], "operationId": f"command_{name}",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "maxLength": MAX_KEY_CHARS},
                            "description": "the command id: a retry with the same key applies once"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}},
            "responses": {str(code): {"description": status} for status, code in STATUS_CODES.items()
                          if status != "timeout"},
        }}
    for name, (model, *_) in sorted(app.queries.items()):
        parameters = [{"name": field, "in": "query", "required": info.is_required(),
                       "schema": model.model_json_schema()["properties"].get(field, {})}
                      for field, info in model.model_fields.items()]
        parameters += [{"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
                        "description": "answer from a view that has applied this log offset"}]
        paths[f"/queries/{name}"] = {"get": {
            "summary": (model.__doc__ or name).strip().splitlines()[0], "operationId": f"query_{name}",
            "parameters": parameters,
            "responses": {"200": {"description": "the answer"}, "422": {"description": "invalid"},
                          "503": {"description": "unavailable or timed out"}},
        }}
    paths["/events"] = {"get": {"summary": "the log as Server-Sent Events", "operationId": "events",
                                "responses": {"200": {"description": "text/event-stream"}}}}
    return {"openapi": "3.1.0", "info": {"title": f"Encore: {app.name}", "version": "1"},
            "paths": paths, "components": {"schemas": schemas}}

"""A small web service on the asyncio client: deposits and balances of the bank domain.

    python -m examples.web_handler [--data DIR] [--port 8481]
    curl -X POST localhost:8481/accounts/a1 -d '{"owner": "ann"}'
    curl -X POST localhost:8481/accounts/a1/deposits -d '{"amount": 25}'
    curl localhost:8481/accounts/a1

It runs the system in-process (`AsyncEncore.embedded`); against a launched system use
`AsyncEncore.attach(data_dir)` instead. Concurrent requests' commands are coalesced into batches
by the client, and each handler reads its own write (`after=result.position`).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.client import AsyncEncore
from actors.errors import EncoreError, ValidationFailed
from examples.bank import Deposit, GetBalance, OpenAccount, app


async def open_account(request: Request) -> JSONResponse:
    return await _decide(request, OpenAccount)


async def deposit(request: Request) -> JSONResponse:
    return await _decide(request, Deposit)


async def _decide(request: Request, kind: type) -> JSONResponse:
    encore: AsyncEncore = request.app.state.encore
    fields = {**await request.json(), "account_id": request.path_params["account_id"]}
    try:
        command = encore.app.parse_command(kind.__name__, fields)   # ValidationFailed, not pydantic's error
        result = await encore.submit(command, command_id=request.headers.get("idempotency-key"))
    except EncoreError as e:
        return JSONResponse({"error": str(e)}, status_code=422 if isinstance(e, ValidationFailed) else 503)
    if result.status == "rejected":
        return JSONResponse({"code": result.code, "message": result.message}, status_code=409)
    if result.status != "accepted":
        return JSONResponse({"status": result.status, "message": result.message}, status_code=503)
    balance = await encore.query(GetBalance(account_id=command.account_id), after=result.position)
    return JSONResponse({"position": result.position, "balance": balance["balance"]})


async def balance(request: Request) -> JSONResponse:
    encore: AsyncEncore = request.app.state.encore
    return JSONResponse(await encore.query(GetBalance(account_id=request.path_params["account_id"])))


def create(data_dir: Path) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(web: Starlette):
        async with AsyncEncore.embedded(app, data_dir) as encore:
            web.state.encore = encore
            yield

    return Starlette(lifespan=lifespan, routes=[
        Route("/accounts/{account_id}", open_account, methods=["POST"]),
        Route("/accounts/{account_id}/deposits", deposit, methods=["POST"]),
        Route("/accounts/{account_id}", balance, methods=["GET"]),
    ])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("web-data"))
    parser.add_argument("--port", type=int, default=8481)
    args = parser.parse_args()
    uvicorn.run(create(args.data), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

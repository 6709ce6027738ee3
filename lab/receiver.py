"""The local alert receiver: records every Alertmanager notification as a JSON line.

It stands in for the SNS topics of the AMP alert manager: Alertmanager's ``page`` receiver posts
to ``/hook/page`` and its ``ticket`` receiver to ``/hook/ticket``. Each notification is appended
to ``notifications.jsonl`` (with the time it arrived); `sre lab notifications` shows them.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from lab import jsonlog
from lab.notifications import Payload

log = logging.getLogger("receiver")


def app(path: Path) -> web.Application:
    """The receiver's HTTP app, appending to ``path``."""

    async def hook(request: web.Request) -> web.Response:
        try:
            payload = Payload.model_validate_json(await request.read())
        except ValidationError as exc:
            raise web.HTTPBadRequest(text='{"error": "not an Alertmanager payload"}') from exc
        entry = {"received_at": time.time(), "hook": request.match_info["name"]}
        entry.update(payload.model_dump())
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
        details = {"receiver": payload.receiver, "status": payload.status}
        log.info("notification", extra={**details, "alerts": len(payload.alerts)})
        return web.json_response({"status": "recorded"})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    application = web.Application()
    application.router.add_post("/hook/{name}", hook)
    application.router.add_get("/healthz", healthz)
    return application


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.receiver --port 8091 --file .lab/notifications.jsonl``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args(argv)
    jsonlog.setup("receiver")
    args.file.parent.mkdir(parents=True, exist_ok=True)
    web.run_app(app(args.file), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""The request id (docs/rules.md section 11, G2): every API and console request carries one, taken from
``X-Request-ID`` when the client sends a usable one (1..64 of letters, digits, ``.``, ``_``, ``-``) and
made otherwise. It is bound for the services (``fund.services.audit.current_request_id``: the audit
record names it), sent back in the ``X-Request-ID`` header, written in the problem details of an error
answer (``request_id``) and in the one log line per request.

>>> usable_request_id("abc-123"), usable_request_id("bad id"), usable_request_id("x" * 65)
('abc-123', None, None)
"""

from __future__ import annotations

import logging
import re
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fund.services.audit import bind_request_id, new_request_id, unbind_request_id

HEADER = "x-request-id"
_USABLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("ipfund.api.requests")


def usable_request_id(value: str | None) -> str | None:
    return value if value is not None and _USABLE.match(value) else None


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


class RequestIdMiddleware:
    """ASGI middleware: bind the request id around the call and answer with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = usable_request_id(sent.get(HEADER)) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status: dict[str, int] = {}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                headers.append((HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = bind_request_id(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_request_id(token)
            log.info("request_id=%s %s %s %s %.1fms", request_id, scope.get("method"), scope.get("path"),
                     status.get("code", "-"), (time.perf_counter() - started) * 1000)

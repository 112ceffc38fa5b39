"""Conditional reads: every ``GET`` under ``/api/v1`` answered 200 with JSON carries an ``ETag`` (a
hash of the body), and a request whose ``If-None-Match`` names it gets ``304 Not Modified`` without a
body, so an integrator polling a loan or a claim re-reads it only when it changed.

>>> entity_tag(b'{"id":1}')
'"037c9214eef74cc3887f3a4f085b4e17"'
>>> matches('"a", "b"', '"b"'), matches("*", '"x"'), matches('W/"x"', '"x"'), matches(None, '"x"')
(True, True, True, False)
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

ETAG_HEADER = "ETag"
IF_NONE_MATCH = "If-None-Match"
MAX_IF_NONE_MATCH = 1000  # characters (longer is refused, 422)


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison, as RFC 9110 says for it)."""
    if not if_none_match:
        return False
    wanted = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in wanted or tag in wanted


def conditional_get(app: ASGIApp) -> ASGIApp:
    """ASGI middleware of the API router (see the module docstring)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] != 200 or not _is_json(message.get("headers", [])):
                    start["passthrough"] = True
                    await send(message)
                return
            if start.get("passthrough"):
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            tag = entity_tag(body)
            request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"etag", b"content-length")]
            headers.append((b"etag", tag.encode()))
            if matches(request_headers.get(IF_NONE_MATCH.lower()), tag):
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, buffered)

    return middleware


def _is_json(headers) -> bool:  # noqa: ANN001
    return any(k.lower() == b"content-type" and b"json" in v for k, v in headers)

"""Authentication (per-institution API keys, ``Authorization: Bearer <key>``) and roles.

Every endpoint under ``/api/v1`` declares the roles that may call it with :func:`allow`; the guard
:func:`authorize` answers 401 for a missing, unknown or revoked key and 403 for a role not in the
list (an endpoint that declares no roles is refused to everyone). The caller is then the ``actor``
dependency (:class:`fund.services.registry.Actor`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.problems import problem_responses
from fund.adapters.db import unit_of_work
from fund.errors import Forbidden
from fund.services.keys import Authenticated, Unauthorized, authenticate
from fund.services.registry import Actor

BEARER_SCHEME = "BearerAuth"
ROLES_OPT = "roles"


class Role(StrEnum):
    BANK = "bank"
    INSURER_OR_GUARANTOR = "insurer_or_guarantor"
    APPRAISER = "appraiser"
    FUND_MANAGER = "fund_manager"
    AUDITOR = "auditor"


ROLE_OF_KIND = {
    "bank": Role.BANK,
    "insurer": Role.INSURER_OR_GUARANTOR,
    "guarantor": Role.INSURER_OR_GUARANTOR,
    "appraiser": Role.APPRAISER,
    "fund_manager": Role.FUND_MANAGER,
    "auditor": Role.AUDITOR,
}
READERS = (Role.FUND_MANAGER, Role.AUDITOR)


def role_of(kind: str) -> Role:
    return ROLE_OF_KIND[kind]


def _bearer(connection: ASGIConnection) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _lookup(connection: ASGIConnection, token: str | None) -> Actor:
    """The caller: the key's institution, and the person when the key was issued to one (the fund
    manager's keys act as their person, so rule G applies to them as to a signed-in person)."""
    from fund.services.people import person_actor, person_of_key

    with unit_of_work(connection.app.state.session_factory) as session:
        who: Authenticated = authenticate(session, token)
        person = person_of_key(session, who.key_prefix)
    if person is None:
        return Actor(who.institution_id, who.code, who.kind, key_prefix=who.key_prefix)
    if not person.active:
        raise Unauthorized("user_disabled", f"the key's person {person.login} is disabled", field="Authorization")
    return person_actor(person, key_prefix=who.key_prefix)


async def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard of every ``/api/v1`` endpoint: a valid key, and a role the endpoint allows."""
    who = await anyio.to_thread.run_sync(_lookup, connection, _bearer(connection))
    connection.state.actor = who
    connection.state.key_prefix = who.key_prefix
    allowed = handler.opt.get(ROLES_OPT) or ()
    if role_of(who.kind) not in allowed:
        raise Forbidden(
            "role_not_allowed",
            f"a {role_of(who.kind)} may not call this endpoint (allowed: {', '.join(allowed) or 'nobody'})",
            field="Authorization",
        )


def allow(*roles: Role, errors: Iterable[int] = ()) -> dict[str, Any]:
    """Keyword arguments of a route handler that ``roles`` may call: the guard, the roles (read by the
    guard, the OpenAPI description and the tests' authorisation matrix), bearer security and the
    documented error answers (401, 403, 422 always; add e.g. 404, 409, 413).

    Use: ``@get("/loans/{loan_id:int}", **allow(Role.BANK, *READERS, errors=[404]))``.
    """
    if not roles:
        raise ValueError("allow() needs at least one role")
    return {
        "guards": [authorize],
        "opt": {ROLES_OPT: tuple(Role(r) for r in roles)},
        "security": [{BEARER_SCHEME: []}],
        "responses": problem_responses({401, 403, 422, *errors}),
    }

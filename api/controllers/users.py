"""Staff users (docs/rules.md section 1) for the fund manager's admin: add, list, disable, reset a
password. Personal keys (the fund manager's keys act as their person) are issued with ``ipfund users key``
(the key is shown once, so it is never kept as an idempotent answer). Every change is an audit
record; so is every refusal."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import READERS, Role, allow
from api.controllers.proposals import run_decision
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from fund.services import audit, people
from schemas.people import PasswordIn, UserIn, UserList, UserOut

LoginPath = Annotated[str, PathParameter(min_length=2, max_length=64, description="the user's login")]
POST_ERRORS = (400, 404, 409, 413)


def user_out(person: people.Person) -> UserOut:
    return UserOut.model_validate(person.as_dict())


def _admin_step(request: Request, actor, db, key: str, body, action: str, target: str, act) -> Response[bytes]:
    def work(session):
        status, out = act(session)
        audit.record(session, actor, action, target)
        return status, out

    return run_decision(request, actor, key, body, work,
                        lambda exc: audit.record_refusal(db, actor, action, target, exc))


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @get("/", sync_to_thread=True, summary="List staff users", **allow(*READERS))
    def list_users(self, actor: Caller, db: Db,
                   institution: Annotated[str | None, QueryParameter(max_length=32)] = None) -> UserList:
        """Every staff user (never a password), optionally of one institution."""
        return UserList(items=[user_out(p) for p in people.list_users(db, actor, institution=institution)])

    @post("/", status_code=201, sync_to_thread=True, summary="Add a staff user", response_headers=[REPLAYED_RESPONSE_HEADER],
          **allow(Role.FUND_MANAGER, errors=POST_ERRORS))
    def add(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
            data: JSONBody[UserIn]) -> Response[UserOut]:
        """An admin adds a user to an institution (roles must fit its kind; password 12..128 characters)."""
        def act(session):
            return 201, user_out(people.add_user_in(session, actor, institution=data.institution, login=data.login,
                                                     display_name=data.display_name, roles=data.roles,
                                                     password=data.password, language=data.language))

        return _admin_step(request, actor, db, idempotency_key, data, "user.add", f"user:{data.login.lower()}", act)

    @post("/{login:str}/disable", status_code=200, sync_to_thread=True, summary="Disable a staff user",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=POST_ERRORS))
    def disable(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                login: LoginPath) -> Response[UserOut]:
        """An admin disables a user (kept: the audit trail names them)."""
        def act(session):
            return 200, user_out(people.disable_user_in(session, actor, login))

        return _admin_step(request, actor, db, idempotency_key, None, "user.disable", f"user:{login.lower()}", act)

    @post("/{login:str}/password", status_code=200, sync_to_thread=True, summary="Reset a user's password",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=POST_ERRORS))
    def reset_password(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                       login: LoginPath, data: JSONBody[PasswordIn]) -> Response[UserOut]:
        """An admin sets a new password (and lifts a lockout)."""
        def act(session):
            return 200, user_out(people.reset_password_in(session, actor, login, data.password))

        return _admin_step(request, actor, db, idempotency_key, None, "user.reset_password", f"user:{login.lower()}", act)

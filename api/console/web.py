"""What every console page shares: who is signed in (kept in the server-side session), the role
guard (a page a role may not see is a 403 page), the language, and rendering a template with the
page's context (translations, money filters, navigation).

A handler takes ``request: Request`` and calls :func:`page` (or :func:`redirect`); it reaches the
services through :func:`db` and acts as :func:`actor` (the signed-in person).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template

from api.console import format as fmt
from api.console.i18n import LANGUAGE_NAMES, LANGUAGES, N_, language_or_default, translator

PREFIX = "/console"
SESSION_USER = "user"
SESSION_LANGUAGE = "language"
SESSION_FLASH = "flash"
ROLES_OPT = "console_roles"

FUND_MANAGER_ROLES = ("officer", "approver", "admin")
STAFF_ROLES = ("officer", "approver")
READERS = ("officer", "approver", "reader")  # the fund manager's staff and auditors read the book


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in person, as kept in the session."""

    person_id: int
    login: str
    display_name: str
    roles: tuple[str, ...]
    institution_id: int
    institution_code: str
    institution_kind: str
    language: str = "zh"

    def has(self, *roles: str) -> bool:
        return bool(set(roles) & set(self.roles))

    def as_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return data

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> "ConsoleUser":
        return cls(**{**data, "roles": tuple(data["roles"])})


class NotSignedIn(HTTPException):
    status_code = 401


class RoleRefused(HTTPException):
    status_code = 403


def current_user(connection: ASGIConnection) -> ConsoleUser | None:
    data = connection.session.get(SESSION_USER) if "session" in connection.scope else None
    return ConsoleUser.from_session(data) if data else None


def language_of(connection: ASGIConnection) -> str:
    user = current_user(connection)
    if user is not None:
        return language_or_default(user.language)
    if "session" in connection.scope:
        return language_or_default(connection.session.get(SESSION_LANGUAGE))
    return language_or_default(None)


def gettext(connection: ASGIConnection):
    return translator(language_of(connection)).gettext


def allow(*roles: str) -> dict[str, Any]:
    """Handler options: only signed-in people with one of ``roles`` see the page."""
    return {"guards": [_guard], "opt": {ROLES_OPT: tuple(roles)}}


def _person_now(session_factory, person_id: int):
    """The person as the database has them now (None once gone)."""
    from fund.adapters.db import unit_of_work
    from fund.errors import NotFound
    from fund.services.people import person_by_id

    with unit_of_work(session_factory) as session:
        try:
            return person_by_id(session, person_id)
        except NotFound:
            return None


def still_valid(user: ConsoleUser, person) -> bool:
    """Does the session's person still stand as they signed in: active, same institution, same roles?"""
    return (person is not None and person.active and person.institution_id == user.institution_id
            and set(person.roles) == set(user.roles))


async def _guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    import anyio.to_thread

    user = current_user(connection)
    if user is None:
        raise NotSignedIn(detail="sign in")
    # a person disabled, or given other roles, since signing in is signed out at their next request
    # (whatever changed them: the console, the API, the CLI); the session's row goes with it
    person = await anyio.to_thread.run_sync(_person_now, connection.app.state.session_factory, user.person_id)
    if not still_valid(user, person):
        connection.clear_session()
        raise NotSignedIn(detail="the session ended")
    roles = handler.opt.get(ROLES_OPT) or ()
    if not user.has(*roles):
        raise RoleRefused(detail="role")


def require_user(request: Request) -> ConsoleUser:
    user = current_user(request)
    if user is None:
        raise NotSignedIn(detail="sign in")
    return user


def db(request: Request):
    return request.app.state.session_factory


def actor(request: Request):
    """The signed-in person as the services' actor (every action and audit record names them); the
    same actor ``fund.services.people.person_actor`` makes, from what the session holds."""
    from fund.services.registry import Actor

    user = require_user(request)
    return Actor(user.institution_id, user.institution_code, user.institution_kind, person_id=user.person_id,
                 login=user.login, display_name=user.display_name, roles=user.roles)


def request_id(request: Request) -> str | None:
    return request.headers.get("x-request-id")


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page (already translated)."""
    messages = list(request.session.get(SESSION_FLASH) or [])
    messages.append({"kind": kind, "text": message})
    request.session[SESSION_FLASH] = messages


def say(request: Request, message: str, values: dict[str, Any] | None = None, kind: str = "ok") -> None:
    """Flash ``message`` (a message id, translated here; ``%(name)s`` filled from ``values``)."""
    text = translator(language_of(request)).gettext(message)
    flash(request, text % values if values else text, kind)


def _take_flash(request: Request) -> list[dict[str, str]]:
    if "session" not in request.scope:
        return []
    messages = request.session.get(SESSION_FLASH) or []
    if messages:
        request.session.pop(SESSION_FLASH, None)
    return list(messages)


ROLE_NAMES = {
    "officer": N_("Officer"), "approver": N_("Approver"), "admin": N_("Administrator"),
    "staff": N_("Staff"), "reader": N_("Auditor"),
}


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    roles: tuple[str, ...]
    kinds: tuple[str, ...] = ()  # institution kinds the page serves (empty: any)


NAVIGATION = (
    NavItem("/dashboard", N_("Dashboard"), ("officer", "approver", "admin", "reader")),
    NavItem("/claims", N_("Claims"), READERS),
    NavItem("/proposals", N_("Sign-off"), ("officer", "approver")),
    NavItem("/loans", N_("Loans"), READERS),
    NavItem("/subsidies", N_("Subsidies"), READERS),
    NavItem("/stress", N_("Stress tests"), READERS),
    NavItem("/reports", N_("Reports"), READERS),
    NavItem("/ledger", N_("Ledger"), READERS),
    NavItem("/audit", N_("Audit trail"), ("officer", "approver", "admin", "reader")),
    NavItem("/admin", N_("Administration"), ("admin",)),
    NavItem("/pool", N_("Banks in the pool"), ("officer", "approver", "admin", "reader")),
    NavItem("/bank/loans", N_("Our loans"), ("staff",), ("bank",)),
    NavItem("/bank/claims", N_("Our claims"), ("staff",), ("bank",)),
    NavItem("/bank/statements", N_("Statements"), ("staff",), ("bank",)),
)


def navigation_for(user: ConsoleUser | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAVIGATION
            if user.has(*item.roles) and (not item.kinds or user.institution_kind in item.kinds)]


def home_for(user: ConsoleUser) -> str:
    items = navigation_for(user)
    return PREFIX + (items[0].path if items else "/account")


def url(path: str, **query: Any) -> str:
    """A console URL with its query (empty values left out)."""
    params = {k: v for k, v in query.items() if v not in (None, "")}
    return PREFIX + path + (("?" + urlencode(params, doseq=True)) if params else "")


def page(request: Request, template: str, title: str, *, status_code: int = 200, **context: Any) -> Template:
    """Render ``template`` (``title`` is a message id, translated here) with the shared context."""
    language = language_of(request)
    translations = translator(language)
    user = current_user(request)
    _ = translations.gettext
    base = {
        "_": _,
        "ngettext": translations.ngettext,
        "lang": language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "user": user,
        "nav": navigation_for(user),
        "title": _(title),
        "path": request.url.path,
        "query": dict(request.query_params),
        "flashes": _take_flash(request),
        "prefix": PREFIX,
        "url": url,
        "money": fmt.money,
        "wan": lambda fen: fmt.wan(fen, language),
        "pct": fmt.percent,
        "times": lambda bp: fmt.times(bp, language),
        "ratio": fmt.ratio,
        "count": fmt.count,
        "day": fmt.day,
        "note": lambda text: fmt.history_note(text, _),
        "error_text": lambda code, message=None: error_text(code, message, language),
        "quote": quote,
        "role_names": ROLE_NAMES,
        "word": lambda code: _word(code, _),
    }
    base.update(context)
    return Template(template_name=template, context=base, status_code=status_code)


def _word(code: object, gettext_) -> str:
    """A stored code (a status, an event, a reason...) in words of the page's language."""
    from api.console.errors import VOCABULARY

    if code is None:
        return ""
    label = VOCABULARY.get(str(code))
    return gettext_(label) if label else str(code)


def redirect(path: str, **query: Any) -> Redirect:
    return Redirect(path=url(path, **query), status_code=303)


def error_text(code: str, message: str | None, language: str) -> str:
    """A domain error for people: the translated message of its code; English falls back on the
    error's own (more specific) message."""
    from api.console.errors import ERROR_MESSAGES

    template = ERROR_MESSAGES.get(code)
    if language == "en":
        return message or template or code.replace("_", " ")
    if template is None:
        return translator(language).gettext("The request was refused.") + f" ({code})"
    return translator(language).gettext(template)


def form_int(value: Any, *, field: str) -> int:
    """One form field as an integer (a DomainError for people otherwise)."""
    from fund.errors import DomainError

    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError("invalid_number", f"{field} must be a whole number", field=field) from None


def form_fen(value: Any, *, field: str) -> int:
    """An amount typed in yuan (``1,234.56``) as exact fen."""
    from decimal import Decimal, InvalidOperation

    from fund.errors import DomainError

    text = str(value or "").replace(",", "").replace("，", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise DomainError("invalid_amount_text", f"{field} must be an amount in yuan, e.g. 1234.56", field=field) from None
    fen = amount * 100
    if fen != fen.to_integral_value() or not amount.is_finite():
        raise DomainError("invalid_amount_text", f"{field} has more than two decimals", field=field)
    return int(fen)


def page_window(total: int, page_number: int, per_page: int) -> dict[str, int]:
    pages = max(1, -(-total // per_page))
    page_number = min(max(1, page_number), pages)
    return {"page": page_number, "pages": pages, "total": total, "per_page": per_page,
            "offset": (page_number - 1) * per_page}

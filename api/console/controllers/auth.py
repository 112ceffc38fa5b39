"""Sign-in, sign-out and the language switch.

Sign-in goes through the people service (rule G: every sign-in, failed or not, is an audit record
there); a session starts afresh on sign-in (no session fixation) and holds the person, their roles
and language. The language switch is remembered on the person (``people.language``) once signed in,
in the session before.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from api.console.i18n import LANGUAGES
from api.console.web import (
    PREFIX, SESSION_LANGUAGE, SESSION_USER, ConsoleUser, actor, current_user, gettext, db, error_text, home_for, language_of, page,
    redirect, request_id,
)
from fund.errors import DomainError

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str | None) -> str | None:
    """Only a path of this console (never another host) is followed after sign-in."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def console_user(person: Any, language: str | None = None) -> ConsoleUser:
    roles = person.roles
    if isinstance(roles, str):
        roles = tuple(r for r in roles.split(",") if r)
    return ConsoleUser(
        person_id=person.id if hasattr(person, "id") else person.person_id,
        login=person.login,
        display_name=person.display_name,
        roles=tuple(roles),
        institution_id=person.institution_id,
        institution_code=person.institution_code,
        institution_kind=person.institution_kind,
        language=language or getattr(person, "language", None) or "zh",
    )


class AuthController(Controller):
    path = "/"

    @get("/", sync_to_thread=False)
    def home(self, request: Request) -> Redirect:
        user = current_user(request)
        if user is None:
            return redirect("/login")
        return Redirect(path=home_for(user), status_code=303)

    @get("/login", sync_to_thread=False)
    def login_form(self, request: Request, next: FromQuery[str | None] = None, expired: FromQuery[int | None] = None) -> Template:
        return page(request, "login.html", "Sign in", next=_safe_next(next) or "", error=None, login="",
                    expired=bool(expired))

    @post("/login", sync_to_thread=True, status_code=200)
    def login(self, request: Request, data: Form) -> Template | Redirect:
        from fund.services import people

        login = str(data.get("login") or "").strip()
        password = str(data.get("password") or "")
        target = _safe_next(data.get("next"))
        try:
            person = people.authenticate(db(request), login, password, request_id=request_id(request))
        except DomainError as exc:
            return page(request, "login.html", "Sign in", status_code=401 if exc.code != "login_locked" else 423,
                        next=target or "", login=login, expired=False,
                        error=error_text(exc.code, exc.message, language_of(request)))
        user = console_user(person)
        request.clear_session()  # a fresh session id on sign-in (the middleware issues one)
        request.set_session({SESSION_USER: user.as_session(), SESSION_LANGUAGE: user.language})
        return Redirect(path=target or home_for(user), status_code=303)

    @post("/logout", sync_to_thread=False, status_code=303)
    def logout(self, request: Request) -> Redirect:
        language = language_of(request)
        request.clear_session()
        request.set_session({SESSION_LANGUAGE: language})
        return redirect("/login")

    @get("/{rest:path}", sync_to_thread=False, status_code=404)
    def unknown(self, request: Request, rest: FromPath[str]) -> Template:
        """Any other console path: the console's own 404 page (not the API's problem document)."""
        from api.console.pages import refusal_page

        return refusal_page(request, 404, "Not found", gettext(request)("There is no such page or record."))

    @post("/language", sync_to_thread=True, status_code=303)
    def language(self, request: Request, data: Form) -> Redirect:
        choice = data.get("language")
        if choice not in LANGUAGES:
            raise DomainError("invalid_language", f"language must be one of {', '.join(LANGUAGES)}", field="language")
        user = current_user(request)
        if user is not None:
            from fund.services import people

            people.set_language(db(request), actor(request), choice)
            request.session[SESSION_USER] = {**user.as_session(), "language": choice}
        request.session[SESSION_LANGUAGE] = choice
        target = _safe_next(data.get("next")) or PREFIX + "/"
        return Redirect(path=target, status_code=303)

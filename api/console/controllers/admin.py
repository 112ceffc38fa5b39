"""Administration (the fund manager's admin): institutions, staff users (add, disable, reset a
password), API keys (the secret shown once; revoke)."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from litestar.params import FromPath

from api.console import SESSION_STORE
from api.console.controllers.common import Form, audited_step, text
from api.console.web import say, actor, allow, db, flash, gettext, page, redirect
from fund.errors import DomainError



class AdminController(Controller):
    path = "/admin"

    @get("/", sync_to_thread=True, **allow("admin"))
    def admin(self, request: Request) -> Template:
        return self._page(request)

    def _page(self, request: Request, shown_key: dict | None = None) -> Template:
        from fund.adapters.db import unit_of_work
        from fund.services import keys, people, pool
        from fund.services.overview import institutions

        who = actor(request)
        with unit_of_work(db(request)) as session:
            key_list = keys.list_keys(session)
        return page(request, "admin.html", "Administration", institutions=institutions(db(request), who),
                    users=people.list_users(db(request), who), keys=key_list, shown_key=shown_key,
                    roles_by_kind=people.ROLES_BY_KIND, agreements=pool.list_agreements(db(request), who),
                    suspensions=pool.list_suspensions(db(request), who))

    @post("/users", sync_to_thread=True, status_code=303, **allow("admin"))
    def add_user(self, request: Request, data: Form) -> Redirect:
        from fund.services import people

        roles = data.get("roles") or []
        roles = [roles] if isinstance(roles, str) else list(roles)
        person = people.add_user(db(request), actor(request), institution=text(data, "institution") or "",
                                 login=text(data, "login", limit=64) or "", display_name=text(data, "display_name", limit=100) or "",
                                 roles=roles, password=str(data.get("password") or ""),
                                 language=data.get("language") if data.get("language") in ("zh", "en") else "zh")
        say(request, "User %(login)s added.", {"login": person.login})
        return redirect("/admin")

    @post("/users/{login:str}/disable", sync_to_thread=True, status_code=303, **allow("admin"))
    def disable(self, request: Request, login: FromPath[str]) -> Redirect:
        from fund.services import people

        person = people.disable_user(db(request), actor(request), login)
        # their console sessions end now (a session met later is refused by the guard too)
        request.app.stores.get(SESSION_STORE).delete_sessions_of(person.id)
        say(request, "User %(login)s disabled.", {"login": login})
        return redirect("/admin")

    @post("/users/{login:str}/password", sync_to_thread=True, status_code=303, **allow("admin"))
    def reset(self, request: Request, login: FromPath[str], data: Form) -> Redirect:
        from fund.services import people

        people.reset_password(db(request), actor(request), login, str(data.get("password") or ""))
        say(request, "Password of %(login)s set.", {"login": login})
        return redirect("/admin")

    @post("/keys", sync_to_thread=True, status_code=200, **allow("admin"))
    def create_key(self, request: Request, data: Form) -> Template:
        from fund.services import keys, people

        label = text(data, "label", limit=100)
        person_login = text(data, "person", limit=64)
        if person_login:
            new = people.issue_person_key(db(request), actor(request), person_login, label=label)
        else:
            institution = text(data, "institution") or ""
            if not institution:
                raise DomainError("unknown_institution", "name an institution or a person", field="institution")
            new = audited_step(request, "key.create", f"institution:{institution}",
                               lambda session: keys.create_key(session, institution, label=label))
        # the secret is shown on this answer only (never stored, not even in the session)
        return self._page(request, shown_key={"key": new.key, "prefix": new.info.prefix})

    @post("/keys/{prefix:str}/revoke", sync_to_thread=True, status_code=303, **allow("admin"))
    def revoke(self, request: Request, prefix: FromPath[str]) -> Redirect:
        from fund.services import keys

        audited_step(request, "key.revoke", f"key:{prefix}",
                     lambda session: keys.revoke_key(session, prefix, now=dt.datetime.now(dt.timezone.utc)))
        say(request, "Key %(prefix)s revoked.", {"prefix": prefix})
        return redirect("/admin")

"""Banks in the pool (docs/rules.md section 12, rule B): the pool agreements (B1) and suspensions at
the loss line (B2), and the two decisions on them, made through rule G like every decision: an officer
proposes a bank's agreement under a policy, or the lift of a suspension with its reason; another
person, an approver, signs the proposal off (here or on the sign-off page), and only then is the
agreement recorded or the suspension lifted.

The page is part of the administration; the fund manager's staff and auditors read it, and the forms
are shown to those the service lets propose (officers)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from litestar.params import FromPath

from api.console.controllers.common import Form, text
from api.console.web import actor, allow, db, page, redirect, say
from fund.errors import DomainError

READ = ("officer", "approver", "admin", "reader")
POOL_KINDS = ("pool_agreement", "lift_suspension")


def pool_context(request: Request) -> dict[str, Any]:
    """What the pool sections show: agreements, suspensions, and (for the forms) the banks, the
    policies, and the open proposals of the two pool kinds."""
    from fund.adapters.db import unit_of_work
    from fund.services import pool, proposals
    from fund.services.common import business_date
    from fund.services.overview import institutions
    from fund.services.policies import list_policies

    who = actor(request)
    with unit_of_work(db(request)) as session:
        policies = [p.id for p in list_policies(session)]
        today = business_date(session)
    waiting = [p for kind in POOL_KINDS for p in proposals.list_proposals(db(request), who, status="open", kind=kind, limit=200)]
    return {
        "agreements": pool.list_agreements(db(request), who),
        "suspensions": pool.list_suspensions(db(request), who),
        "banks": [(code, name) for code, name, kind in institutions(db(request), who) if kind == "bank"],
        "policies": policies,
        "today": today,
        "pool_proposals": sorted(waiting, key=lambda p: p.id),
    }


class PoolController(Controller):
    path = "/pool"

    @get("/", sync_to_thread=True, **allow(*READ))
    def pool(self, request: Request) -> Template:
        return self._page(request)

    def _page(self, request: Request, *, status_code: int = 200, error: str | None = None, error_form: str | None = None,
              values: dict[str, Any] | None = None) -> Template:
        return page(request, "pool.html", "Banks in the pool", status_code=status_code, error=error, error_form=error_form,
                    values=values or {}, **pool_context(request))

    def _refused(self, request: Request, exc: DomainError, form: str, values: dict[str, Any]) -> Template:
        from api.console.web import error_text, language_of
        from api.problems import status_of

        status = status_of(exc) if status_of(exc) in (403, 404, 409, 422) else 422
        return self._page(request, status_code=status, error=error_text(exc.code, exc.message, language_of(request)),
                          error_form=form, values=values)

    @post("/agreements", sync_to_thread=True, status_code=303, **allow("officer"))
    def propose_agreement(self, request: Request, data: Form) -> Redirect | Template:
        from fund.services import proposals

        values = {"bank_code": text(data, "bank_code", limit=40) or "", "policy_id": text(data, "policy_id", limit=60) or "",
                  "agreed_on": text(data, "agreed_on", limit=20) or "", "reference": text(data, "reference", limit=200) or ""}
        try:
            view = proposals.propose(db(request), actor(request), "pool_agreement", dict(values), note=values["reference"] or None)
        except DomainError as exc:
            return self._refused(request, exc, "agreement", values)
        say(request, "Agreement of %(bank)s under %(policy)s proposed (proposal #%(id)s). An approver signs it off.",
            {"bank": values["bank_code"], "policy": values["policy_id"], "id": view.id})
        return redirect("/pool")

    @post("/suspensions/{suspension_id:int}/lift", sync_to_thread=True, status_code=303, **allow("officer"))
    def propose_lift(self, request: Request, suspension_id: FromPath[int], data: Form) -> Redirect | Template:
        from fund.services import proposals

        reason = text(data, "reason", limit=1000) or ""
        try:
            view = proposals.propose(db(request), actor(request), "lift_suspension",
                                     {"suspension_id": suspension_id, "reason": reason}, note=reason or None)
        except DomainError as exc:
            return self._refused(request, exc, f"lift-{suspension_id}", {"reason": reason})
        say(request, "Lifting suspension #%(suspension)s proposed (proposal #%(id)s). An approver signs it off.",
            {"suspension": suspension_id, "id": view.id})
        return redirect("/pool")

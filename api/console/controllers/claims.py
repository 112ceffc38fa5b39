"""The claims queue, a claim's page (documents, the allocation approval would compute now with its cap
trace, history) and the sign-off of proposals (rule G1: an officer proposes, another person signs off
or declines; the maker may withdraw)."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template
from litestar.params import FromPath, FromQuery

from api.console.controllers.common import Form, int_or, text
from api.console.web import say, READERS, actor, allow, db, flash, gettext, page, page_window, redirect
from fund.errors import DomainError

CLAIM_STATUSES = ("filed", "approved", "rejected", "withdrawn", "closed")


def document_response(info, content: bytes, *, download: bool) -> Response:
    disposition = "attachment" if download else "inline"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in info.filename) or "document"
    return Response(content=content, media_type=info.media_type, headers={
        "Content-Disposition": f'{disposition}; filename="{safe}"', "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; plugin-types application/pdf",
    })


class ClaimsController(Controller):
    path = "/claims"

    @get("/", sync_to_thread=True, **allow(*READERS))
    def queue(self, request: Request, status: FromQuery[str | None] = "filed", bank: FromQuery[str | None] = None, page_number: FromQuery[int] = 1) -> Template:
        from fund.services.overview import claims_queue

        status = status if status in CLAIM_STATUSES else None
        page_number = int_or(request.query_params.get("page"), 1)
        lines, total = claims_queue(db(request), actor(request), status=status, bank=bank or None, page=page_number)
        window = page_window(total, page_number, 50)
        return page(request, "claims.html", "Claims", lines=lines, window=window, status=status or "", bank=bank or "",
                    statuses=CLAIM_STATUSES, params={"status": status or "all", "bank": bank or ""})

    @get("/{claim_id:int}", sync_to_thread=True, **allow(*READERS))
    def claim(self, request: Request, claim_id: FromPath[int]) -> Template:
        from fund.services.overview import claim_page

        view = claim_page(db(request), actor(request), claim_id)
        return page(request, "claim.html", "Claim", view=view, c=view.claim, documents_base=f"/claims/{claim_id}")

    @get("/{claim_id:int}/documents/{document_id:int}", sync_to_thread=True, **allow(*READERS))
    def document(self, request: Request, claim_id: FromPath[int], document_id: FromPath[int]) -> Response:
        from fund.adapters.db import unit_of_work
        from fund.services import claim_documents

        with unit_of_work(db(request)) as session:
            info, content = claim_documents.document_content(session, actor(request), claim_id, document_id)
        return document_response(info, content, download=request.query_params.get("download") == "1")

    @post("/{claim_id:int}/propose", sync_to_thread=True, status_code=303, **allow("officer"))
    def propose(self, request: Request, claim_id: FromPath[int], data: Form) -> Redirect:
        from fund.services import proposals

        _ = gettext(request)
        decision = data.get("decision")
        if decision == "approve":
            proposals.propose(db(request), actor(request), "claim_approval", {"claim_id": claim_id, "note": text(data, "note")},
                              note=text(data, "note"))
            flash(request, _("Approval proposed. Another person signs it off."))
        elif decision == "reject":
            reason = text(data, "reason")
            proposals.propose(db(request), actor(request), "claim_rejection", {"claim_id": claim_id, "reason": reason},
                              note=reason)
            flash(request, _("Rejection proposed. Another person signs it off."))
        else:
            raise DomainError("invalid_decision", "decision must be approve or reject", field="decision")
        return redirect(f"/claims/{claim_id}")


class ProposalsController(Controller):
    path = "/proposals"

    @get("/", sync_to_thread=True, **allow("officer", "approver", "reader"))
    def proposals(self, request: Request, status: FromQuery[str | None] = "open") -> Template:
        from fund.services import proposals

        status = status if status in ("open", "executed", "declined", "withdrawn") else None
        rows = proposals.list_proposals(db(request), actor(request), status=status, limit=500)
        return page(request, "proposals.html", "Sign-off", rows=list(reversed(rows)), status=status or "")

    @post("/{proposal_id:int}/sign-off", sync_to_thread=True, status_code=303, **allow("approver"))
    def sign_off(self, request: Request, proposal_id: FromPath[int], data: Form) -> Redirect:
        from fund.services import proposals

        view = proposals.sign_off(db(request), actor(request), proposal_id)
        say(request, "Signed off and done.")
        return _back(data, view)

    @post("/{proposal_id:int}/decline", sync_to_thread=True, status_code=303, **allow("approver"))
    def decline(self, request: Request, proposal_id: FromPath[int], data: Form) -> Redirect:
        from fund.services import proposals

        view = proposals.decline(db(request), actor(request), proposal_id, text(data, "reason") or "")
        say(request, "Declined.")
        return _back(data, view)

    @post("/{proposal_id:int}/withdraw", sync_to_thread=True, status_code=303, **allow("officer"))
    def withdraw(self, request: Request, proposal_id: FromPath[int], data: Form) -> Redirect:
        from fund.services import proposals

        view = proposals.withdraw(db(request), actor(request), proposal_id)
        say(request, "Withdrawn.")
        return _back(data, view)


def _back(data, view) -> Redirect:
    """Back to the page the form was on (a console path only)."""
    from api.console.web import PREFIX

    target = str(data.get("back") or "")
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return Redirect(path=target, status_code=303)
    return redirect("/proposals")

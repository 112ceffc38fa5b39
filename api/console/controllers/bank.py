"""Bank staff: their loans, their claims (file with documents, lower the loss, withdraw, record
recoveries, close) and the subsidy statements of their loans. Another bank's loan or claim is "not
found", exactly as if it did not exist."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Response, Template
from litestar.params import FromPath

from api.console.controllers.common import Form, Multipart, audited_step, text
from api.console.controllers.claims import document_response
from api.console.controllers.loans import loan_view, search
from api.console.web import say, actor, allow, db, flash, form_fen, gettext, page, redirect
from fund.errors import DomainError


def _uploads(data: dict) -> list[UploadFile]:
    files = data.get("documents")
    if files is None:
        return []
    files = files if isinstance(files, list) else [files]
    return [f for f in files if isinstance(f, UploadFile) and f.filename]


def _read_all(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    return [(f.filename, f.file.read()) for f in files]


class BankController(Controller):
    path = "/bank"

    @get("/loans", sync_to_thread=True, **allow("staff"))
    def loans(self, request: Request) -> Template:
        return search(request, "loans.html", "Our loans", "/bank/loans", bank_fixed=True)

    @get("/loans/{loan_id:int}", sync_to_thread=True, **allow("staff"))
    def loan(self, request: Request, loan_id: FromPath[int]) -> Template:
        return page(request, "bank_loan.html", "Loan", loan=loan_view(request, loan_id), claims_base="/bank/claims")

    @post("/loans/{loan_id:int}/claims", sync_to_thread=True, status_code=303, **allow("staff"))
    def file(self, request: Request, loan_id: FromPath[int], data: Multipart) -> Redirect:
        from fund.services import claim_documents, claims
        from fund.services.common import business_date

        who = actor(request)
        loss_fen = form_fen(data.get("loss"), field="loss")
        documents = _read_all(_uploads(data))
        if not documents:
            raise DomainError("missing_document", "attach the claim's evidence (default notice, collection record...)",
                              field="documents")

        def work(session):
            claim = claims.file_claim(session, who, loan_id, loss_fen, business_date(session))
            for name, content in documents:
                claim_documents.attach(session, who, claim.id, name, content)
            return claim.id

        claim_id = audited_step(request, "claim.file", f"loan:{loan_id}", work)
        say(request, "Claim filed with %(n)s documents.", {"n": len(documents)})
        return redirect(f"/bank/claims/{claim_id}")

    @get("/claims", sync_to_thread=True, **allow("staff"))
    def claims(self, request: Request) -> Template:
        from api.console.controllers.common import int_or
        from api.console.web import page_window
        from fund.services.overview import claims_queue

        page_number = int_or(request.query_params.get("page"), 1)
        status = request.query_params.get("status") or None
        lines, total = claims_queue(db(request), actor(request), status=status, page=page_number)
        return page(request, "claims.html", "Our claims", lines=lines, window=page_window(total, page_number, 50),
                    status=status or "", bank="", statuses=("filed", "approved", "rejected", "withdrawn", "closed"),
                    params={"status": status or ""}, bank_view=True)

    @get("/claims/{claim_id:int}", sync_to_thread=True, **allow("staff"))
    def claim(self, request: Request, claim_id: FromPath[int]) -> Template:
        from fund.services.overview import claim_page

        view = claim_page(db(request), actor(request), claim_id)
        return page(request, "bank_claim.html", "Claim", view=view, c=view.claim, documents_base=f"/bank/claims/{claim_id}")

    @get("/claims/{claim_id:int}/documents/{document_id:int}", sync_to_thread=True, **allow("staff"))
    def document(self, request: Request, claim_id: FromPath[int], document_id: FromPath[int]) -> Response:
        from fund.adapters.db import unit_of_work
        from fund.services import claim_documents

        with unit_of_work(db(request)) as session:
            info, content = claim_documents.document_content(session, actor(request), claim_id, document_id)
        return document_response(info, content, download=request.query_params.get("download") == "1")

    @post("/claims/{claim_id:int}/documents", sync_to_thread=True, status_code=303, **allow("staff"))
    def attach(self, request: Request, claim_id: FromPath[int], data: Multipart) -> Redirect:
        from fund.services import claim_documents

        who = actor(request)
        documents = _read_all(_uploads(data))
        if not documents:
            raise DomainError("missing_document", "choose a document to attach", field="documents")
        audited_step(request, "claim.attach", f"claim:{claim_id}",
                     lambda session: [claim_documents.attach(session, who, claim_id, n, c) for n, c in documents])
        say(request, "Documents attached.")
        return redirect(f"/bank/claims/{claim_id}")

    @post("/claims/{claim_id:int}/{step:str}", sync_to_thread=True, status_code=303, **allow("staff"))
    def step(self, request: Request, claim_id: FromPath[int], step: FromPath[str], data: Form) -> Redirect:
        from fund.services import claims
        from fund.services.common import business_date

        who = actor(request)
        _ = gettext(request)
        if step == "lower":
            loss = form_fen(data.get("loss"), field="loss")
            work = lambda session: claims.lower_loss(session, who, claim_id, loss, business_date(session))  # noqa: E731
            done = _("The loss is lowered.")
        elif step == "withdraw":
            note = text(data, "note")
            work = lambda session: claims.withdraw_claim(session, who, claim_id, business_date(session), note)  # noqa: E731
            done = _("The claim is withdrawn.")
        elif step == "recovery":
            gross, costs = form_fen(data.get("gross"), field="gross"), form_fen(data.get("costs") or "0", field="costs")
            work = lambda session: claims.record_recovery(session, who, claim_id, gross, costs, business_date(session))  # noqa: E731
            done = _("The recovery is recorded.")
        elif step == "close":
            note = text(data, "note")
            work = lambda session: claims.close_claim(session, who, claim_id, business_date(session), note)  # noqa: E731
            done = _("The claim is closed.")
        else:
            raise DomainError("unknown_step", f"no step {step!r}", field="step")
        audited_step(request, f"claim.{step}", f"claim:{claim_id}", work)
        flash(request, done)
        return redirect(f"/bank/claims/{claim_id}")

    @get("/statements", sync_to_thread=True, **allow("staff"))
    def statements(self, request: Request) -> Template:
        from fund.adapters.db import unit_of_work
        from fund.services import subsidies

        with unit_of_work(db(request)) as session:
            runs = list(reversed(subsidies.list_runs(session)))
        return page(request, "bank_statements.html", "Statements", runs=runs)

"""Interest-subsidy runs (rule S4, docs/rules.md section 5): the fund manager's officer proposes a month's
run and an approver signs it off (rule G1, section 11); the fund manager
and auditors read runs; statements download as CSV or XLSX, a bank's holding only its own loans' lines."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Stream
from sqlalchemy.orm import Session

from api.auth import READERS, Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from api.controllers.proposals import proposal_out, run_decision
from api.openapi import documented
from fund.adapters.db import unit_of_work
from fund.services import audit, proposals, statements
from fund.services import subsidies as service
from schemas.common import MAX_ID
from schemas.people import ProposalOut
from schemas.statements import PreviewLineOut, PreviewOut
from schemas.subsidies import FeeLineOut, SubsidyRunIn, SubsidyRunList, SubsidyRunOut

PREFIX = "/api/v1/subsidy-runs"
RunId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the subsidy run's id")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _out(result: service.RunResult, created: bool | None, session: Session) -> SubsidyRunOut:
    return SubsidyRunOut(
        id=result.run_id, month=result.month, created=created, business_date=result.business_date,
        lines=result.line_count, capped_lines=result.capped_count, computed_fen=result.computed_fen,
        total_fen=result.total_fen, paid_fen=result.paid_fen, deferred_fen=result.deferred_fen, entry_id=result.entry_id,
        statement_url=f"{PREFIX}/{result.run_id}/statement", interest_total_fen=result.interest_total_fen,
        fee_lines=result.fee_line_count, fee_capped_lines=result.fee_capped_count,
        fee_computed_fen=result.fee_computed_fen, fee_total_fen=result.fee_total_fen,
        fee_items=run_fee_items(session, result),
    )


def run_fee_items(session: Session, result: service.RunResult) -> list[FeeLineOut]:
    """The run's fee lines in its money order, each with its part paid so far (S6)."""
    if not result.fee_line_count:
        return []
    run = service.find_run(session, run_id=result.run_id)
    return [_fee_line_out(f, paid) for f, paid in service.run_fee_lines_paid(session, run)]


def _fee_line_out(f, paid_fen: int) -> FeeLineOut:
    return FeeLineOut(fee_id=f.fee_id, loan_id=f.loan_id, enterprise_id=f.enterprise_id, policy_id=f.policy_id, kind=f.kind,
                      fee_fen=f.fee_fen, paid_on=f.paid_on, computed_fen=f.computed_fen, amount_fen=f.amount_fen,
                      capped=f.capped, paid_fen=paid_fen, deferred_fen=f.amount_fen - paid_fen)


def _answers_existing_run(handler_kwargs: dict) -> dict:
    """The POST's 200 answer in the OpenAPI document: the month's existing run, not a proposal."""
    from litestar.openapi.datastructures import ResponseSpec

    existing = ResponseSpec(data_container=SubsidyRunOut,
                            description="OK: the month had been run already; the existing run (nothing changes, nothing proposed)")
    return {**handler_kwargs, "responses": {**handler_kwargs.get("responses", {}), 200: existing}}


class SubsidyController(Controller):
    path = "/subsidy-runs"
    tags = ["subsidies"]

    @post("/", status_code=202, sync_to_thread=True, summary="Propose a month's interest-subsidy run (rules S4, G1)",
          response_headers=[REPLAYED_RESPONSE_HEADER],
          **_answers_existing_run(allow(Role.FUND_MANAGER, errors=(403, 409))))
    def run(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
            data: JSONBody[SubsidyRunIn]) -> Response[ProposalOut]:
        """An officer proposes running `month` (rule G1, docs/rules.md section 11): the lines and totals it
        would write as of the business date are stored as the proposal's `preview`. Another person, an
        approver, signs it off (`POST /proposals/{id}/approve`): the run is then executed on the sign-off's
        business date (every eligible repayment paid by the month's last day that no earlier run took,
        the enterprise cap in order, one journal entry paid from the subsidy pool, what its cash cannot
        cover deferred) and the proposal's `figures` name the run. 202 with the proposal; 200 with the
        existing run (`SubsidyRunOut`, `created` false) when the month was run already (nothing changes,
        nothing is proposed; a sign-off of a month run meanwhile reports that run too); 409
        `month_before_latest_run`, `proposal_exists`; 422 `lpr_not_available`; 403 `person_required` for a
        key not issued to a person, `not_an_officer`."""

        def work(session: Session):
            outcome = proposals.propose_subsidy_run(session, actor, data.month)
            if isinstance(outcome, service.RunResult):
                return 200, _out(outcome, False, session)
            return 202, proposal_out(outcome)

        return run_decision(request, actor, idempotency_key, data, work,
                            lambda exc: audit.record_refusal(db, actor, "subsidy_run.propose", f"subsidy_run:{data.month}",
                                                             exc, detail={"params": {"month": data.month}, "message": exc.message}))

    @get("/", sync_to_thread=True, summary="Subsidy runs", **allow(*READERS))
    def list_runs(
        self, db: Db,
        month: Annotated[str | None, QueryParameter(min_length=7, max_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                                    description="only this month's run, YYYY-MM")] = None,
    ) -> SubsidyRunList:
        """Every run, by month (or the one of `month`)."""
        with unit_of_work(db) as session:
            runs = service.list_runs(session)
            return SubsidyRunList(items=[_out(r, None, session) for r in runs if month is None or r.month == month])

    @get("/preview", sync_to_thread=True, summary="Preview a month's subsidy run (rule S4): writes nothing",
         **allow(Role.FUND_MANAGER, Role.AUDITOR, errors=(409,)))
    def preview(
        self, actor: Caller, db: Db,
        month: Annotated[str, QueryParameter(min_length=7, max_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                             description="the month, YYYY-MM")],
        limit: Annotated[int, QueryParameter(ge=0, le=10_000, description="lines to list (the totals cover all)")] = 100,
    ) -> PreviewOut:
        """The lines and totals a run of `month` would write now, with the part the subsidy pool's cash
        would pay and the part it would defer; nothing is written. The interest lines (`items`, S3 order)
        take the cash first, then the fee lines (`fee_items`: payment date, loan, fee id; S6), as the
        run's money does. 409 `month_before_latest_run`."""
        p = service.preview(db, actor, month)
        return PreviewOut(
            month=p.month, business_date=p.business_date, already_run=p.already_run, lines=p.line_count,
            capped_lines=p.capped_count, computed_fen=p.computed_fen, total_fen=p.total_fen, paid_fen=p.paid_fen,
            deferred_fen=p.deferred_fen, pool_cash_fen=p.cash_fen, interest_total_fen=p.interest_total_fen,
            fee_lines=p.fee_line_count, fee_capped_lines=p.fee_capped_count, fee_computed_fen=p.fee_computed_fen,
            fee_total_fen=p.fee_total_fen, fee_items=[_fee_line_out(f, f.paid_fen) for f in p.fee_lines[:limit]],
            items=[PreviewLineOut(
                repayment_id=ln.repayment_id, loan_id=ln.loan_id, enterprise_id=ln.enterprise_id, policy_id=ln.policy_id,
                paid_on=ln.paid_on, interest_fen=ln.interest_fen, lpr_bp=ln.lpr_bp, computed_fen=ln.computed_fen,
                amount_fen=ln.amount_fen, capped=ln.capped, paid_fen=ln.paid_fen, deferred_fen=ln.deferred_fen,
            ) for ln in p.first_lines(limit)],
        )

    @get("/{run_id:int}", sync_to_thread=True, summary="A subsidy run", **allow(*READERS, errors=(404,)))
    def get_run(self, db: Db, run_id: RunId) -> SubsidyRunOut:
        with unit_of_work(db) as session:
            return _out(service.RunResult.of(service.find_run(session, run_id=run_id), created=False), None, session)

    @get("/{run_id:int}/statement", sync_to_thread=True, summary="A subsidy run's statement (CSV or XLSX)",
         media_type=CSV, **documented(allow(Role.BANK, *READERS, errors=(404,)), media_types=(CSV, XLSX)))
    def statement(
        self, actor: Caller, db: Db, run_id: RunId,
        fmt: Annotated[Literal["csv", "xlsx"], QueryParameter(name="format", description="csv (default) or xlsx")] = "csv",
        bank: Annotated[str | None, QueryParameter(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                                   description="only this bank's loans (a bank may name only itself)")] = None,
        enterprise: Annotated[str | None, QueryParameter(min_length=18, max_length=18, pattern=r"^[0-9A-Z]{18}$",
                                                         description="only this enterprise (unified social credit code)")] = None,
        lang: Annotated[Literal["zh", "en"], QueryParameter(description="headers in Chinese (default) or English")] = "zh",
    ) -> Response:
        """The run's lines in S3 order: bank, loan, enterprise, installment, interest, contract rate, LPR,
        rate used, the subsidy before and after the cap, the part paid and the part deferred (yuan
        with two decimals beside the exact fen), and the capped flag; totals per bank, per enterprise
        and in all. A bank gets only its own loans' lines (naming another bank is 403). XLSX: title
        block, frozen header, filter, print setup, signature block, totals sheets. CSV: UTF-8 with a
        BOM, the same columns, total rows after the lines; it streams."""
        return statement_response(db, lambda session: statements.subsidy_statement(
            session, actor, run_id=run_id, bank_code=bank, enterprise_code=enterprise, lang=lang), fmt, lang)


def statement_response(db, build, fmt: str, lang: str) -> Response:
    """A statement as a download: XLSX written (streamed) to a spooled temporary file, then sent; CSV
    streamed as it is written. ``build(session)`` checks who may read what
    before the answer starts."""
    import tempfile

    with unit_of_work(db) as session:
        statement = build(session)  # refusals (403, 404) happen here, before any byte is sent
        name = statement.filename
        if fmt == "xlsx":
            spool = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)
            statement.write("xlsx", spool, lang=lang)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "xlsx":
        spool.seek(0)
        with spool:
            return Response(content=spool.read(), media_type=XLSX, headers=headers)
    return Stream(_csv_chunks(db, build, lang), media_type=CSV, headers=headers)


def _csv_chunks(db, build, lang: str):
    """The CSV in pieces, read in a transaction of its own."""
    with unit_of_work(db) as session:
        for piece in build(session).csv_pieces(lang=lang):
            yield piece.encode("utf-8")

"""Rule G1 (docs/rules.md section 11): every decision that moves or commits the fund's money or changes
its rules is a *proposal* made by one person of the fund manager (an officer) and signed off by
another (an approver).

A proposal stores what it will do as computed when proposed (``preview``); the sign-off recomputes it
as of its own business date and executes it in the sign-off's transaction, keeping both figures
(``figures_differ`` says whether they differ). The maker may withdraw it; an approver may decline it
with a reason. A proposal leaves ``open`` exactly once: a conditional ``UPDATE ... WHERE status =
'open'`` claims it, so of two concurrent sign-offs one executes and the other is refused
(``proposal_not_open``). Every step and every refusal is an audit record naming the proposal's
target (``claim:12``).

**Kinds.** Each kind of decision is a :class:`ProposalKind` registered with :func:`register_kind`:
how to check its parameters, its target, its executor (run in the sign-off's transaction, as the
signer, returning the figures as a JSON-able dict) and optionally a preview (default: the executor
run in a savepoint that is rolled back, so "as computed now" is exactly what the executor would do).
An area adds its kind in its own module and names that module in :data:`KIND_MODULES`.

>>> sorted(k for k in kinds() if k.startswith("claim_"))
['claim_approval', 'claim_rejection']
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.people import Person as PersonRow, Proposal
from fund.domain import signoff
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services import audit
from fund.services.common import business_date
from fund.services.paging import after
from fund.services.registry import Actor

SessionFactory = sessionmaker[Session]
Params = dict[str, Any]
Figures = dict[str, Any]
MAX_PAGE = 500
MAX_REASON = 500

# Modules that register proposal kinds of other areas (imported on first use). Add yours here.
KIND_MODULES: tuple[str, ...] = ("fund.services.appropriations", "fund.services.pool")


@dataclass(frozen=True)
class ProposalKind:
    """One kind of decision.

    ``check(params) -> params``: the parameters, checked and in normal form (DomainError otherwise).
    ``target(params) -> str``: what it acts on, as the audit trail names it (``claim:12``).
    ``execute(session, actor, params, business_date) -> figures``: do it (the signer is ``actor``).
    ``preview``: the same signature, writing nothing; None = ``execute`` in a rolled-back savepoint.
    ``fund_share(figures) -> fen``: the fund share of an approval, for ``single_signoff_below_fen``
    (None: the kind always needs two people). ``policy_of(session, params)``: the policy whose
    threshold applies. ``is_rejection``: rejections always need two.
    """

    name: str
    title: str
    check: Callable[[Params], Params]
    target: Callable[[Params], str]
    execute: Callable[[Session, Actor, Params, dt.date], Figures]
    preview: Callable[[Session, Actor, Params, dt.date], Figures] | None = None
    fund_share: Callable[[Figures], int | None] | None = None
    policy_of: Callable[[Session, Params], str | None] | None = None
    is_rejection: bool = False


_KINDS: dict[str, ProposalKind] = {}
_loaded = False


def register_kind(kind: ProposalKind) -> ProposalKind:
    """Add a kind (registering the same name twice replaces it: modules may be reloaded)."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> dict[str, ProposalKind]:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in KIND_MODULES:
            importlib.import_module(module)
    return dict(_KINDS)


def kind_of(name: str) -> ProposalKind:
    known = kinds()
    if name not in known:
        raise DomainError("unknown_proposal_kind", f"no proposal kind {name!r} (kinds: {', '.join(sorted(known))})", field="kind")
    return known[name]


# ---------------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalView:
    id: int
    kind: str
    target: str
    status: str
    params: Params
    preview: Figures
    figures: Figures | None
    figures_differ: bool | None
    single_signoff: bool | None
    proposed_by: str
    proposed_by_name: str
    proposed_on: dt.date
    proposed_at: dt.datetime
    note: str | None
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_on: dt.date | None = None
    decline_reason: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "extra"}
        return out

    def line(self) -> str:
        """One line for people (CLI)."""
        who = f" by {self.decided_by_name} ({self.decided_by})" if self.decided_by else ""
        return (f"proposal {self.id} {self.kind} {self.target}: {self.status}{who}; proposed by {self.proposed_by_name} "
                f"({self.proposed_by}) on {self.proposed_on}")


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _normal(value: Any) -> Any:
    """Figures as stored (a JSON round trip), so the preview and the sign-off compare like with like."""
    return json.loads(_dumps(value))


def _views(session: Session, stmt) -> list[ProposalView]:
    maker, decider = aliased(PersonRow), aliased(PersonRow)
    rows = session.execute(
        stmt.add_columns(maker.login, maker.display_name, decider.login, decider.display_name)
        .join(maker, maker.id == Proposal.proposed_by)
        .outerjoin(decider, decider.id == Proposal.decided_by)
    ).all()
    return [
        ProposalView(p.id, p.kind, p.target, p.status, _loads(p.params), _loads(p.preview), _loads(p.figures), p.figures_differ,
                     p.single_signoff, m_login, m_name, p.proposed_on, p.proposed_at, p.note, d_login, d_name, p.decided_on,
                     p.decline_reason)
        for p, m_login, m_name, d_login, d_name in rows
    ]


def proposal_view(session: Session, proposal_id: int) -> ProposalView:
    found = _views(session, select(Proposal).where(Proposal.id == proposal_id))
    if not found:
        raise NotFound("proposal_not_found", f"no proposal {proposal_id}", field="proposal_id")
    return found[0]


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------


def _require_fund_manager_person(actor: Actor) -> None:
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager's people make and sign off proposals")
    if actor.person_id is None:
        raise Forbidden("person_required", "a decision is made by a named person: sign in, or use a key issued to a person")


def _require_reader(actor: Actor) -> None:
    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors read proposals")


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError("missing_reason", f"{what} needs a stated reason (1..{MAX_REASON} characters)", field="reason")
    return reason


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_REASON:
        raise DomainError("note_too_long", f"a note has at most {MAX_REASON} characters", field="note")
    return note


def _threshold(session: Session, kind: ProposalKind, params: Params) -> int | None:
    if kind.policy_of is None or kind.fund_share is None:
        return None
    policy_id = kind.policy_of(session, params)
    if policy_id is None:
        return None
    from fund.services.policies import get_policy

    # single_signoff_below_fen is a policy parameter of revision 2 (default: none, always two people)
    return getattr(get_policy(session, policy_id), "single_signoff_below_fen", None)


def compute_preview(session: Session, kind: ProposalKind, actor: Actor, params: Params, today: dt.date) -> Figures:
    """What the proposal will do, computed now, writing nothing."""
    if kind.preview is not None:
        return _normal(kind.preview(session, actor, params, today))
    savepoint = session.begin_nested()
    try:
        return _normal(kind.execute(session, actor, params, today))
    finally:
        savepoint.rollback()


# ---------------------------------------------------------------------------------------------
# session-level steps
# ---------------------------------------------------------------------------------------------


def _propose(session: Session, actor: Actor, kind: ProposalKind, params: Params, note: str | None) -> ProposalView:
    _require_fund_manager_person(actor)
    if not signoff.may_propose(actor.roles):
        raise Forbidden("not_an_officer", "only an officer of the fund manager makes proposals")
    params = kind.check(dict(params))
    target = kind.target(params)
    open_same = session.scalar(select(Proposal.id).where(Proposal.kind == kind.name, Proposal.target == target,
                                                         Proposal.status == "open"))
    if open_same is not None:
        raise Conflict("proposal_exists", f"proposal {open_same} ({kind.name} {target}) is open already", field="kind")
    today = business_date(session)
    preview = compute_preview(session, kind, actor, params, today)
    row = Proposal(kind=kind.name, target=target, params=_dumps(params), preview=_dumps(preview), status="open",
                   proposed_by=actor.person_id, proposed_on=today, proposed_at=audit.utc_now(), note=_note(note))
    session.add(row)
    session.flush()
    audit.record(session, actor, f"{kind.name}.propose", target, business_date=today,
                 detail={"proposal": row.id, "preview": preview})
    return proposal_view(session, row.id)


def _claim_open(session: Session, proposal_id: int, new_status: str, person_id: int, today: dt.date) -> Proposal:
    """Move the proposal from ``open`` (the one conditional UPDATE that concurrent callers race for)."""
    claimed = session.execute(
        update(Proposal).where(Proposal.id == proposal_id, Proposal.status == "open")
        .values(status=new_status, decided_by=person_id, decided_on=today, decided_at=audit.utc_now())
        .execution_options(synchronize_session=False)
    ).rowcount
    row = session.scalar(select(Proposal).where(Proposal.id == proposal_id).execution_options(populate_existing=True))
    if row is None:
        raise NotFound("proposal_not_found", f"no proposal {proposal_id}", field="proposal_id")
    if claimed != 1:
        raise Conflict("proposal_not_open", f"proposal {proposal_id} is {row.status}: only an open proposal can be decided",
                       field="proposal_id")
    return row


def _refuse(decision: signoff.SignoffDecision) -> None:
    if not decision.allowed:
        raise Forbidden(decision.code or "forbidden", decision.message or "refused", field="proposal_id")


def _sign_off(session: Session, actor: Actor, proposal_id: int) -> ProposalView:
    _require_fund_manager_person(actor)
    today = business_date(session)
    row = _claim_open(session, proposal_id, "executed", actor.person_id, today)
    kind = kind_of(row.kind)
    params = _loads(row.params)
    threshold = _threshold(session, kind, params)
    if row.proposed_by == actor.person_id and not signoff.could_be_single(kind.is_rejection, kind.fund_share is not None, threshold):
        _refuse(signoff.decide_signoff(maker_id=row.proposed_by, signer_id=actor.person_id, signer_roles=actor.roles,
                                       is_rejection=kind.is_rejection))
    figures = _normal(kind.execute(session, actor, params, today))
    share = kind.fund_share(figures) if kind.fund_share else None
    decision = signoff.decide_signoff(maker_id=row.proposed_by, signer_id=actor.person_id, signer_roles=actor.roles,
                                      is_rejection=kind.is_rejection, fund_share_fen=share, single_signoff_below_fen=threshold)
    _refuse(decision)  # rolls the execution back with the transaction
    preview = _loads(row.preview)
    row.figures, row.figures_differ, row.single_signoff = _dumps(figures), figures != preview, decision.single
    session.flush()
    audit.record(session, actor, f"{kind.name}.sign_off", row.target, business_date=today,
                 detail={"proposal": row.id, "figures": figures, "figures_differ": figures != preview, "single": decision.single})
    return proposal_view(session, row.id)


def _decline(session: Session, actor: Actor, proposal_id: int, reason: str) -> ProposalView:
    _require_fund_manager_person(actor)
    reason = _reason(reason, "declining a proposal")
    today = business_date(session)
    row = _claim_open(session, proposal_id, "declined", actor.person_id, today)
    _refuse(signoff.decide_decline(maker_id=row.proposed_by, decider_id=actor.person_id, decider_roles=actor.roles))
    row.decline_reason = reason
    session.flush()
    audit.record(session, actor, f"{row.kind}.decline", row.target, business_date=today, detail={"proposal": row.id, "reason": reason})
    return proposal_view(session, row.id)


def _withdraw(session: Session, actor: Actor, proposal_id: int) -> ProposalView:
    _require_fund_manager_person(actor)
    today = business_date(session)
    row = _claim_open(session, proposal_id, "withdrawn", actor.person_id, today)
    _refuse(signoff.decide_withdraw(maker_id=row.proposed_by, person_id=actor.person_id))
    audit.record(session, actor, f"{row.kind}.withdraw", row.target, business_date=today, detail={"proposal": row.id})
    return proposal_view(session, row.id)


# ---------------------------------------------------------------------------------------------
# use cases
# ---------------------------------------------------------------------------------------------


def _target_of(db: SessionFactory, proposal_id: int) -> tuple[str | None, str]:
    with unit_of_work(db) as session:
        row = session.get(Proposal, proposal_id)
        return (row.target, row.kind) if row else (None, "proposal")


def _refused(db: SessionFactory, actor: Actor, step: str, proposal_id: int, exc: DomainError) -> None:
    target, kind = _target_of(db, proposal_id)
    audit.record_refusal(db, actor, f"{kind}.{step}", target, exc, detail={"proposal": proposal_id, "message": exc.message})


def propose(db: SessionFactory, actor: Actor, kind: str, params: Params, *, note: str | None = None) -> ProposalView:
    """An officer proposes a decision; what it will do is computed now and stored."""
    try:
        chosen = kind_of(kind)
        with unit_of_work(db) as session:
            return _propose(session, actor, chosen, params, note)
    except DomainError as exc:
        target = None
        try:
            target = kind_of(kind).target(kind_of(kind).check(dict(params)))
        except (DomainError, KeyError, TypeError, ValueError):
            pass
        audit.record_refusal(db, actor, f"{kind}.propose"[:64], target, exc, detail={"params": params, "message": exc.message})
        raise


def sign_off(db: SessionFactory, actor: Actor, proposal_id: int) -> ProposalView:
    """An approver (not the maker) signs off: recomputed and executed in this one transaction."""
    try:
        with unit_of_work(db) as session:
            return _sign_off(session, actor, proposal_id)
    except DomainError as exc:
        _refused(db, actor, "sign_off", proposal_id, exc)
        raise


def decline(db: SessionFactory, actor: Actor, proposal_id: int, reason: str) -> ProposalView:
    """An approver declines with a reason."""
    try:
        with unit_of_work(db) as session:
            return _decline(session, actor, proposal_id, reason)
    except DomainError as exc:
        _refused(db, actor, "decline", proposal_id, exc)
        raise


def withdraw(db: SessionFactory, actor: Actor, proposal_id: int) -> ProposalView:
    """The maker withdraws an open proposal."""
    try:
        with unit_of_work(db) as session:
            return _withdraw(session, actor, proposal_id)
    except DomainError as exc:
        _refused(db, actor, "withdraw", proposal_id, exc)
        raise


def get_proposal(db: SessionFactory, actor: Actor, proposal_id: int) -> ProposalView:
    _require_reader(actor)
    with unit_of_work(db) as session:
        return proposal_view(session, proposal_id)


def list_proposals(db: SessionFactory, actor: Actor, *, status: str | None = None, kind: str | None = None,
                   target: str | None = None, after_id: int = 0, limit: int = 100) -> list[ProposalView]:
    """Proposals in id order (keyset: ``after_id``), filtered by status, kind and target."""
    _require_reader(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise DomainError("invalid_limit", f"limit must be 1..{MAX_PAGE}", field="limit")
    stmt = select(Proposal)
    if status is not None:
        stmt = stmt.where(Proposal.status == status)
    if kind is not None:
        stmt = stmt.where(Proposal.kind == kind)
    if target is not None:
        stmt = stmt.where(Proposal.target == target)
    with unit_of_work(db) as session:
        return _views(session, after(stmt, Proposal.id, after_id, limit))


# ---------------------------------------------------------------------------------------------
# the kinds of decisions of the other areas that exist today
# ---------------------------------------------------------------------------------------------


def _int_param(params: Params, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError("invalid_parameter", f"{name} must be a positive integer", field=name)
    return value


def _date_param(params: Params, name: str) -> str:
    value = params.get(name)
    try:
        return (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise DomainError("invalid_date", f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from None


def _claim_figures(session: Session, claim) -> Figures:
    return {
        "claim_id": claim.id, "loan_id": claim.loan_id, "status": claim.status, "loss_fen": claim.loss_fen,
        "policy_id": claim.policy_id, "base_fen": claim.base_fen, "fund_fen": claim.fund_fen, "insurer_fen": claim.insurer_fen,
        "appraiser_fen": claim.appraiser_fen, "bank_fen": claim.bank_fen, "fund_cut_fen": claim.fund_cut_fen,
        "paid_fen": claim.paid_fen, "deferred_fen": claim.deferred_fen, "decided_on": claim.decided_on,
    }


def _check_claim_approval(params: Params) -> Params:
    return {"claim_id": _int_param(params, "claim_id"), "note": _note(params.get("note"))}


def _check_claim_rejection(params: Params) -> Params:
    return {"claim_id": _int_param(params, "claim_id"), "reason": _reason(params.get("reason"), "a rejection")}


def _execute_claim_approval(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.claims import approve_claim

    return _claim_figures(session, approve_claim(session, actor, params["claim_id"], today, params.get("note")))


def _execute_claim_rejection(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.claims import reject_claim

    claim = reject_claim(session, actor, params["claim_id"], params["reason"], today)
    return {"claim_id": claim.id, "loan_id": claim.loan_id, "status": claim.status, "reason": params["reason"]}


def _claim_policy(session: Session, params: Params) -> str | None:
    from fund.adapters.models.claims import Claim

    return session.scalar(select(Claim.policy_id).where(Claim.id == params["claim_id"]))


def _execute_subsidy_run(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.subsidies import run_month

    # S4: a month run since the proposal (another sign-off, a crash's rerun) is reported, never run twice
    result = run_month(session, params["month"], today, actor=actor)
    return {"month": result.month, "run_id": result.run_id, "created": result.created, "line_count": result.line_count,
            "total_fen": result.total_fen, "paid_fen": result.paid_fen, "deferred_fen": result.deferred_fen}


def propose_subsidy_run(session: Session, actor: Actor, month: str, *, note: str | None = None):
    """The officer's proposal to run ``month`` (rule G1), or, when the month was run already, that run
    (a :class:`fund.services.subsidies.RunResult` with ``created`` False: S4, nothing changes and
    nothing is proposed)."""
    from fund.adapters.models.subsidies import SubsidyRun
    from fund.services.subsidies import RunResult

    _require_fund_manager_person(actor)
    params = _check_month({"month": month})
    existing = session.scalar(select(SubsidyRun).where(SubsidyRun.month == params["month"]))
    if existing is not None:
        return RunResult.of(existing, created=False)
    return _propose(session, actor, kind_of("subsidy_run"), params, note)


def propose_run(db: SessionFactory, actor: Actor, month: str, *, note: str | None = None):
    """The use case of :func:`propose_subsidy_run` (``ipfund subsidies run``); a refused proposal is an
    audit record, as with :func:`propose`."""
    from fund.adapters.models.subsidies import SubsidyRun
    from fund.services.subsidies import RunResult

    with unit_of_work(db) as session:
        _require_fund_manager_person(actor)
        existing = session.scalar(select(SubsidyRun).where(SubsidyRun.month == _check_month({"month": month})["month"]))
        if existing is not None:
            return RunResult.of(existing, created=False)
    return propose(db, actor, "subsidy_run", {"month": month}, note=note)


def _preview_subsidy_run(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.subsidies import preview_month

    preview = preview_month(session, params["month"], today, actor=actor)
    if preview.already_run is not None:
        raise Conflict("month_already_run", f"month {params['month']} has been run already", field="month")
    return {"month": params["month"], "line_count": preview.line_count, "total_fen": preview.total_fen,
            "paid_fen": preview.paid_fen, "deferred_fen": preview.deferred_fen}


def _check_month(params: Params) -> Params:
    month = str(params.get("month") or "")
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise DomainError("invalid_month", f"month must be YYYY-MM, got {month!r}", field="month")
    return {"month": month}


def _execute_policy_activation(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.policies import activate_policy

    row = activate_policy(session, params["policy_id"])
    return {"policy_id": row.id, "valid_from": row.valid_from, "valid_to": row.valid_to, "active": row.active}


def _check_policy(params: Params) -> Params:
    policy_id = str(params.get("policy_id") or "").strip()
    if not policy_id or len(policy_id) > 32:
        raise DomainError("invalid_parameter", "policy_id must be 1..32 characters", field="policy_id")
    return {"policy_id": policy_id}


def _execute_lpr_publication(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.lpr import add_publication

    published_on = dt.date.fromisoformat(params["published_on"])
    if published_on > today:
        raise DomainError("dated_after_business_date", f"{published_on} is after the business date {today}", field="published_on")
    add_publication(session, published_on, params["rate_bp"])
    return {"published_on": params["published_on"], "rate_bp": params["rate_bp"]}


def _check_lpr_publication(params: Params) -> Params:
    rate = params.get("rate_bp")
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise DomainError("invalid_rate", "rate_bp must be an integer number of basis points", field="rate_bp")
    return {"published_on": _date_param(params, "published_on"), "rate_bp": rate}


def _execute_checked_through(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.lpr import check_through

    check_through(session, dt.date.fromisoformat(params["through"]), today)
    return {"checked_through": params["through"]}


def _execute_pilot_code(session: Session, actor: Actor, params: Params, today: dt.date) -> Figures:
    from fund.services.registry import allow_pilot_code

    row = allow_pilot_code(session, actor, params["credit_code"], params["reason"], today)
    return {"credit_code": row.credit_code, "reason": row.reason}


def _check_pilot_code(params: Params) -> Params:
    code = str(params.get("credit_code") or "").strip().upper()
    if not code or len(code) > 18:
        raise DomainError("invalid_uscc", "credit_code must be an 18-character code", field="credit_code")
    return {"credit_code": code, "reason": _reason(params.get("reason"), "a pilot credit code")}


register_kind(ProposalKind(
    "claim_approval", "approve a claim (A2 split, A3 cap, A4 payment)", _check_claim_approval,
    lambda p: f"claim:{p['claim_id']}", _execute_claim_approval,
    fund_share=lambda f: f.get("fund_fen"), policy_of=_claim_policy,
))
register_kind(ProposalKind(
    "claim_rejection", "reject a claim with a reason", _check_claim_rejection,
    lambda p: f"claim:{p['claim_id']}", _execute_claim_rejection, is_rejection=True,
))
register_kind(ProposalKind(
    "subsidy_run", "run a month's interest subsidies (S4)", _check_month,
    lambda p: f"subsidy_run:{p['month']}", _execute_subsidy_run, preview=_preview_subsidy_run,
))
register_kind(ProposalKind(
    "policy_activation", "activate a policy", _check_policy, lambda p: f"policy:{p['policy_id']}", _execute_policy_activation,
))
register_kind(ProposalKind(
    "lpr_publication", "add an LPR publication", _check_lpr_publication, lambda p: f"lpr:{p['published_on']}",
    _execute_lpr_publication,
))
register_kind(ProposalKind(
    "lpr_checked_through", "move the LPR table's checked_through forward",
    lambda p: {"through": _date_param(p, "through")}, lambda p: "lpr:checked_through", _execute_checked_through,
))
register_kind(ProposalKind(
    "pilot_code", "allow a pilot credit code (I1)", _check_pilot_code, lambda p: f"pilot_code:{p['credit_code']}",
    _execute_pilot_code,
))

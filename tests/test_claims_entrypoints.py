"""One use case, two entrypoints: a claim approved through the CLI and an identical claim approved
through the API (both as rule G1 asks: an officer proposes, an approver signs off) store the same
allocation, cap trace, payment, events and postings, on both backends.

The two claims are on identical loans of two banks with identical pool agreements, so neither
approval uses the other's cap room; the pool holds cash for both."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.adapters.models.ledger import JournalEntry, Posting
from fund.cli.main import app as cli
from fund.services import claims, people
from fund.settings import reset_settings_cache
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401
from tests.test_api_support import make_api
from tests.test_claims_support import World

pytestmark = pytest.mark.usefixtures("fast_passwords")
D = dt.date
FILED_ON = D(2026, 6, 1)
LOSS_FEN = 100_000_000


def _cli_json(*args) -> dict:
    result = CliRunner().invoke(cli, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _stored(session_factory, reader, claim_id: int) -> dict:
    """What the approval stored, without what names the claim, its loan, its bank or its entry."""
    with unit_of_work(session_factory) as session:
        document = claims.claim_document(session, claims.claim_for(session, reader, claim_id))
        entry_id = document["payment"]["entry_id"]
        postings = sorted(session.execute(
            select(Posting.account_code, Posting.amount_fen).where(Posting.entry_id == entry_id)).all())
        entry = session.get(JournalEntry, entry_id)
        entry_facts = (entry.cause, entry.policy_id, entry.ref_type, entry.business_date)
    payment = {k: v for k, v in document["payment"].items() if k != "entry_id"}
    steps = [(e["event"], e["from_status"], e["to_status"], e["business_date"], e["note"])
             for e in document["events"]]
    approval = [(e["by"], e["entry_id"] is not None) for e in document["events"] if e["event"] == "approved"]
    return {"status": document["status"], "allocation": document["allocation"], "cap": document["cap"], "payment": payment,
            "steps": steps, "approval": approval, "postings": postings, "entry": entry_facts,
            "decided": (document["decided_on"], document["decided_by"])}


def test_a_claim_approved_through_the_cli_and_one_through_the_api_store_the_same(session_factory, monkeypatch):
    api = make_api(session_factory)
    world = World(session_factory, api.actors)
    with unit_of_work(session_factory) as session:
        staff = add_staff(session)
    keys = {login: people.issue_person_key(session_factory, staff["fm.admin"], login).key for login in ("fm.officer", "fm.approver")}
    monkeypatch.setenv("IPFUND_PASSWORD", PASSWORD)

    first = world.register("BANK1", drawdown=D(2026, 1, 15))
    second = world.register("BANK2", drawdown=D(2026, 1, 15), borrower_n=2)
    world.appropriate(10_000_000_000, D(2026, 1, 15))
    monkeypatch.setenv("IPFUND_BUSINESS_DATE", FILED_ON.isoformat())
    reset_settings_cache()
    by_cli = world.file(first.id, LOSS_FEN, FILED_ON, bank="BANK1").id
    by_api = world.file(second.id, LOSS_FEN, FILED_ON, bank="BANK2").id

    proposal = _cli_json("claims", "approve", by_cli, "--user", "fm.officer")
    executed = _cli_json("proposals", "approve", proposal["id"], "--user", "fm.approver")
    assert executed["status"] == "executed"

    made = api.post("/api/v1/proposals", {"kind": "claim_approval", "params": {"claim_id": by_api}}, who=keys["fm.officer"])
    assert made.status_code == 202, made.text
    signed = api.post(f"/api/v1/proposals/{made.json()['id']}/approve", who=keys["fm.approver"])
    assert signed.status_code == 200 and signed.json()["status"] == "executed", signed.text

    through_cli, through_api = (_stored(session_factory, api.actors["FM"], claim_id) for claim_id in (by_cli, by_api))
    assert through_cli["status"] == "approved" and through_cli["allocation"]["fund_fen"] > 0
    assert through_cli["payment"]["paid_fen"] == through_cli["allocation"]["fund_fen"]  # the pool had cash for both
    assert [s[0] for s in through_cli["steps"]] == ["filed", "approved"]
    assert through_cli == through_api

"""The console in chromium, in Chinese and in English: the dashboard's tiles at 1366x768 with every
label and sub-label whole (wrapped, never cut), and the pool's two decisions through rule G (an
officer proposes a bank's pool agreement, or the lift of a suspension with its reason -> the same
person cannot sign it off -> an approver signs it off -> the agreement is listed / the bank is no
longer suspended). Screenshots go to ``test-output/screenshots/``."""

from __future__ import annotations

import pytest

from tests.browser.conftest import VIEWPORT, shot
from tests.browser.test_console_browser import assert_translated, sign_in, sign_out

pytestmark = pytest.mark.browser

REFUSED_TO_MAKER = {"zh": "提出建议的人不能审批该建议。", "en": "another person (an approver) must sign it off"}
IN_FORCE = {"zh": "生效中", "en": "in force"}
IN_THE_POOL = {"zh": "在池", "en": "In the pool"}
SUSPENDED = {"zh": "暂停", "en": "Suspended since"}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_dashboard_tiles_wrap_their_labels_at_1366x768(page, language):
    assert page.viewport_size == VIEWPORT
    sign_in(page, "t.officer", language=language)
    page.goto("/console/dashboard")
    cut = page.eval_on_selector_all(
        ".tile, .tile-label, .tile-exact",
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className + ': ' + e.textContent.trim())")
    assert cut == [], f"cut at 1366x768: {cut}"
    # the leverage tile's sub-label is whole and inside its tile
    leverage = page.locator(".tile", has_text={"zh": "放大倍数", "en": "Leverage"}[language])
    sub = leverage.locator(".tile-exact")
    assert sub.inner_text() == {"zh": "存续纳入补偿本金 / 拨款", "en": "covered principal of live loans / appropriations"}[language]
    tile_box, sub_box = leverage.bounding_box(), sub.bounding_box()
    assert sub_box["x"] + sub_box["width"] <= tile_box["x"] + tile_box["width"] + 0.5
    shot(page, f"{language}-dashboard-tiles-1366x768")


def suspend(live_server) -> tuple[int, str, str]:
    """A test bank suspended under a policy, as the approval step records it when the bank's approved
    covered losses pass its line (the figures set here: the demo's banks are far from their lines).
    The suspension names a claim: the claim journey's on the bank's claimable loan, or, before the
    journey ran, one filed and withdrawn there (the loan stays claimable for the journey, checked).
    Returns ``(suspension id, bank code, policy id)``."""
    from sqlalchemy import select

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.claims import Claim
    from fund.adapters.models.pool import BankSuspension
    from fund.adapters.models.registry import Institution, Loan
    from fund.services.claims import file_claim, withdraw_claim
    from fund.services.common import business_date
    from fund.services.registry import Actor

    with unit_of_work(live_server["db"]) as session:
        suspended = set(session.scalars(select(BankSuspension.bank_id).where(BankSuspension.lifted_on.is_(None))))
        loans = [session.get(Loan, live_server["claimable"][login][0]) for login in ("t.bank2", "t.bank")]
        loans = [loan for loan in loans if loan.bank_id not in suspended]
        if not loans:
            pytest.fail("both test banks are suspended in this database")
        loan, today = loans[0], business_date(session)
        claim = session.scalar(select(Claim).where(Claim.loan_id == loan.id).order_by(Claim.id.desc()).limit(1))
        if claim is None:  # the claim journey has not run: a claim filed and withdrawn, the loan still claimable
            actor = Actor.of(session.get(Institution, loan.bank_id))
            claim = file_claim(session, actor, loan.id, 100_000, today)
            withdraw_claim(session, actor, claim.id, today, "filed to name it in a test suspension")
            savepoint = session.begin_nested()
            file_claim(session, actor, loan.id, 100_000, today)
            savepoint.rollback()
        row = BankSuspension(bank_id=loan.bank_id, policy_id=claim.policy_id, suspended_on=today, claim_id=claim.id,
                             losses_fen=310_000_000, lending_fen=10_000_000_000, line_fen=300_000_000)
        session.add(row)
        session.flush()
        return row.id, session.get(Institution, loan.bank_id).code, claim.policy_id


def new_bank(live_server, code: str) -> None:
    from fund.adapters.db import unit_of_work
    from fund.services.common import add_institution

    with unit_of_work(live_server["db"]) as session:
        add_institution(session, code, f"{code} 测试银行", "bank")


def _proposal_from_flash(page) -> int:
    import re

    found = re.findall(r"#(\d+)", page.inner_text(".flash"))  # "... (proposal #N) ...": the last number
    assert found, page.inner_text(".flash")
    return int(found[-1])


def _maker_refused(page, proposal: int, language: str) -> None:
    page.click(f"#pool-proposals tr:has(td.num:text-is('{proposal}')) button.sign-off")
    page.wait_for_load_state()
    assert page.locator(".flash.error").count() == 1
    assert REFUSED_TO_MAKER[language] in page.inner_text(".flash.error")
    assert_translated(page, language)


def _approver_signs_off(page, proposal: int) -> None:
    page.goto("/console/proposals")
    page.click(f"tr:has(td.num:text-is('{proposal}')) button.sign-off")
    page.wait_for_load_state()
    assert page.url.endswith("/console/proposals")
    assert page.locator(".flash.error").count() == 0


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_pool_agreement_proposed_refused_to_its_maker_and_signed_off(page, live_server, language):
    bank = f"T-POOL-{language.upper()}"
    new_bank(live_server, bank)
    reference = {"zh": "穗知基协〔2026〕12号", "en": "GZ-IPF-2026-12"}[language]

    # 1. an officer (who also signs off other people's proposals) proposes the agreement
    sign_in(page, "t.both", language=language)
    page.goto("/console/pool")
    assert page.locator("#propose-agreement").is_visible()
    assert page.locator("label[for=agreement-bank]").count() == 1  # the fields have labels
    page.select_option("#agreement-bank", bank)
    page.select_option("#agreement-policy", "gz-2023")
    page.fill("#agreement-date", "2026-09-30")
    page.fill("#agreement-reference", reference)
    shot(page, f"{language}-pool-1-propose-agreement")
    page.click("#propose-agreement")
    page.wait_for_load_state()
    assert page.url.endswith("/console/pool")
    proposal = _proposal_from_flash(page)
    assert f"agreement:{bank}:gz-2023" in page.inner_text("#pool-proposals")
    assert bank not in page.inner_text("#agreements")
    assert_translated(page, language)
    shot(page, f"{language}-pool-2-agreement-proposed")

    # 2. the same person cannot sign it off
    _maker_refused(page, proposal, language)
    shot(page, f"{language}-pool-3-agreement-maker-refused")
    # and an agreement that exists already is refused with the translated message, beside the form
    page.goto("/console/pool")
    page.select_option("#agreement-bank", "CITIC-GZ")
    page.select_option("#agreement-policy", "gz-2023")
    page.fill("#agreement-reference", "dup")
    page.click("#propose-agreement")
    page.wait_for_load_state()
    error = page.inner_text("#agreement-error")
    assert error == {"zh": "该银行在此政策下已有入池协议。", "en": "bank CITIC-GZ has an agreement under gz-2023"}[language] or \
        (language == "en" and error.startswith("bank CITIC-GZ has an agreement under gz-2023")), error
    assert page.input_value("#agreement-reference") == "dup"
    assert_translated(page, language)
    shot(page, f"{language}-pool-4-agreement-exists")
    sign_out(page)

    # 3. an approver signs it off; the agreement is listed
    sign_in(page, "t.approver", language=language)
    _approver_signs_off(page, proposal)
    page.goto("/console/pool")
    row = page.locator("#agreements tr", has_text=bank)
    assert row.count() == 1
    text = row.inner_text()
    assert reference in text and "2026-09-30" in text and "gz-2023" in text
    assert f"agreement:{bank}:gz-2023" not in page.inner_text("#pool-proposals")
    assert_translated(page, language)
    shot(page, f"{language}-pool-5-agreement-listed")
    sign_out(page)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_suspension_lifted_through_a_proposal(page, live_server, language):
    suspension, bank, policy = suspend(live_server)
    reason = {"zh": "银行已补足风险准备金，经基金管理人评估同意恢复入池", "en": "the bank topped up its risk reserve"}[language]

    sign_in(page, "t.both", language=language)
    page.goto("/console/dashboard")
    standing = page.locator("#loss-ratios tr", has_text=bank).filter(has_text=policy)
    assert SUSPENDED[language] in standing.inner_text()
    page.goto("/console/pool")
    row = page.locator(f"#suspension-{suspension}")
    assert IN_FORCE[language] in row.inner_text()
    # 1. no reason: refused by the server with the translated message (the browser's own check bypassed)
    row.locator("form.lift").evaluate("f => f.noValidate = true")
    row.locator("button.propose-lift").click()
    page.wait_for_load_state()
    message = page.locator(f"#suspension-{suspension} .flash.error").inner_text()
    assert message.startswith({"zh": "必须说明理由。", "en": "lifting a suspension needs a stated reason"}[language]), message
    assert_translated(page, language)
    shot(page, f"{language}-pool-6-lift-without-reason")
    # 2. the officer proposes the lift with its reason
    page.goto("/console/pool")
    page.fill(f"#suspension-{suspension} textarea[name=reason]", reason)
    shot(page, f"{language}-pool-7-propose-lift")
    page.click(f"#suspension-{suspension} button.propose-lift")
    page.wait_for_load_state()
    proposal = _proposal_from_flash(page)
    assert f"bank_suspension:{suspension}" in page.inner_text("#pool-proposals")
    assert IN_FORCE[language] in page.inner_text(f"#suspension-{suspension}")  # not before the sign-off
    # 3. the same person cannot sign it off
    _maker_refused(page, proposal, language)
    shot(page, f"{language}-pool-8-lift-maker-refused")
    sign_out(page)

    # 4. an approver signs it off: the bank is no longer suspended
    sign_in(page, "t.approver", language=language)
    _approver_signs_off(page, proposal)
    page.goto("/console/pool")
    row = page.locator(f"#suspension-{suspension}")
    text = row.inner_text()
    assert IN_FORCE[language] not in text and reason in text and "2026-10-31" in text
    assert_translated(page, language)
    shot(page, f"{language}-pool-9-suspension-lifted")
    page.goto("/console/dashboard")
    standing = page.locator("#loss-ratios tr", has_text=bank).filter(has_text=policy)
    assert IN_THE_POOL[language] in standing.inner_text() and SUSPENDED[language] not in standing.inner_text()
    shot(page, f"{language}-pool-10-dashboard-after-lift")
    sign_out(page)

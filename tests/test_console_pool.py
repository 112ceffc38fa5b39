"""The console's pool page (docs/rules.md section 12, rule B through rule G): an officer proposes a
bank's pool agreement and the lift of a suspension; the same person cannot sign the proposal off; an
approver signs it off and the agreement is listed, the suspension lifted. Refusals come back as the
page with the error's translated message and nothing changed; the page's roles."""

from __future__ import annotations

import shutil

import pytest
from litestar.testing import TestClient

from tests.console_support import csrf_token, prepare_demo, sign_in


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return prepare_demo(tmp_path_factory.mktemp("console-pool") / "demo.sqlite3")


@pytest.fixture()
def app(demo, tmp_path):
    from api.app import create_app
    from fund.adapters.db import make_engine, make_session_factory
    from tests.console_support import use_cheap_hasher

    path = tmp_path / "copy.sqlite3"
    shutil.copy(demo["url"].removeprefix("sqlite:///"), path)
    use_cheap_hasher()
    engine = make_engine(f"sqlite:///{path}")
    yield create_app(make_session_factory(engine))
    engine.dispose()


def new_bank(factory, code: str) -> None:
    """A bank with no pool agreement yet."""
    from fund.adapters.db import unit_of_work
    from fund.services.common import add_institution

    with unit_of_work(factory) as session:
        add_institution(session, code, f"{code} 测试银行", "bank")


def suspend_a_bank(factory, loan_id: int) -> int:
    """A suspension in force of the loan's bank: a claim on the loan filed and approved, and the
    suspension the approval step records when the losses pass the line (its figures set here, the
    demo's banks being far from their lines); returns the suspension's id."""
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.pool import BankSuspension
    from fund.adapters.models.registry import Loan
    from fund.services.claims import approve_claim, file_claim
    from fund.services.common import business_date, fund_manager
    from fund.services.registry import Actor

    with unit_of_work(factory) as session:
        today = business_date(session)
        loan = session.get(Loan, loan_id)
        from fund.adapters.models.registry import Institution

        claim = file_claim(session, Actor.of(session.get(Institution, loan.bank_id)), loan_id, 100_000, today)
        approve_claim(session, Actor.of(fund_manager(session)), claim.id, today)
        row = BankSuspension(bank_id=loan.bank_id, policy_id=claim.policy_id, suspended_on=today, claim_id=claim.id,
                             losses_fen=310_000_000, lending_fen=10_000_000_000, line_fen=300_000_000)
        session.add(row)
        session.flush()
        return row.id


def _post(client, path: str, form_page: str, data: dict):
    token = csrf_token(client.get(form_page).text)
    return client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def _proposal_id(text: str) -> int:
    import re

    flash = text[text.index('class="flash'):]
    found = re.findall(r"#(\d+)", flash[:flash.index("</div>")])  # "... (proposal #N) ...": the last number
    assert found, "the flash names the proposal"
    return int(found[-1])


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_agreement_proposed_refused_to_its_maker_signed_off_by_an_approver_and_listed(app, language):
    factory = app.state.session_factory
    new_bank(factory, "T-NEW")
    with TestClient(app) as client:
        sign_in(client, "t.both")  # officer and approver
        if language == "en":
            _post(client, "/console/language", "/console/pool", {"language": "en"})
        page = client.get("/console/pool")
        assert page.status_code == 200 and 'id="propose-agreement"' in page.text and 'value="T-NEW"' in page.text
        answer = _post(client, "/console/pool/agreements", "/console/pool",
                       {"bank_code": "T-NEW", "policy_id": "gz-2023", "agreed_on": "2026-10-01", "reference": "穗知基协〔2026〕7号"})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/pool"
        listed = client.get("/console/pool").text
        proposal = _proposal_id(listed)
        queue = listed[listed.index('id="pool-proposals"'):listed.index('id="pool-agreements"')]
        assert "agreement:T-NEW:gz-2023" in queue
        assert "穗知基协〔2026〕7号" in queue and "2026-10-01" in queue  # what the approver signs is shown
        agreements = listed[listed.index('id="agreements"'):]
        assert "T-NEW" not in agreements[:agreements.index("</table>")]  # not before the sign-off
        # the maker cannot sign it off
        refused = _post(client, f"/console/proposals/{proposal}/sign-off", "/console/pool", {"back": "/console/pool"})
        assert refused.status_code == 403
        assert 'class="flash error"' in refused.text
        assert {"zh": "提出建议的人不能审批该建议。", "en": "another person (an approver) must sign it off"}[language] in refused.text
        assert "agreement:T-NEW:gz-2023" in client.get("/console/proposals").text  # still open
    with TestClient(app) as client:
        sign_in(client, "t.approver")
        signed = _post(client, f"/console/proposals/{proposal}/sign-off", "/console/pool", {"back": "/console/pool"})
        assert signed.status_code == 303 and signed.headers["location"] == "/console/pool"
        after = client.get("/console/pool").text
    agreements = after[after.index('id="agreements"'):]
    agreements = agreements[:agreements.index("</table>")]
    assert "T-NEW" in agreements and "穗知基协〔2026〕7号" in agreements and "2026-10-01" in agreements


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_suspension_lifted_with_a_reason_through_a_proposal(app, demo, language):
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.pool import BankSuspension

    factory = app.state.session_factory
    suspension = suspend_a_bank(factory, demo["claimable"]["t.bank"][-1])
    with TestClient(app) as client:
        sign_in(client, "t.officer")
        if language == "en":
            _post(client, "/console/language", "/console/pool", {"language": "en"})
        page = client.get("/console/pool").text
        assert f'action="/console/pool/suspensions/{suspension}/lift"' in page
        # no reason: refused, the page says why in the page's language, nothing proposed
        empty = _post(client, f"/console/pool/suspensions/{suspension}/lift", "/console/pool", {"reason": "  "})
        assert empty.status_code == 422
        box = empty.text[empty.text.index('class="flash error"'):][:300]
        assert {"zh": "必须说明理由。", "en": "lifting a suspension needs a stated reason"}[language] in box, box
        assert f"bank_suspension:{suspension}" not in client.get("/console/pool").text.split('id="pool-agreements"')[0]
        reason = "新增风险准备金已到位" if language == "zh" else "the bank added to its risk reserve"
        answer = _post(client, f"/console/pool/suspensions/{suspension}/lift", "/console/pool", {"reason": reason})
        assert answer.status_code == 303
        listed = client.get("/console/pool").text
        proposal = _proposal_id(listed)
        assert reason in listed[listed.index('id="pool-proposals"'):listed.index('id="pool-agreements"')]
    with TestClient(app) as client:
        sign_in(client, "t.approver")
        signed = _post(client, f"/console/proposals/{proposal}/sign-off", "/console/pool", {"back": "/console/pool"})
        assert signed.status_code == 303
        after = client.get("/console/pool").text
    row = after[after.index(f'id="suspension-{suspension}"'):]
    row = row[:row.index("</tr>")]
    assert reason in row and "2026-10-31" in row.split('class="state"')[1][:40]
    with unit_of_work(factory) as session:
        lifted = session.get(BankSuspension, suspension)
        assert lifted.lifted_on is not None and lifted.lift_reason == reason and lifted.lifted_by is not None


def test_an_agreement_that_exists_is_refused_with_the_translated_message_and_the_form_kept(app):
    with TestClient(app) as client:
        sign_in(client, "t.officer")  # reads Chinese
        answer = _post(client, "/console/pool/agreements", "/console/pool",
                       {"bank_code": "CITIC-GZ", "policy_id": "gz-2023", "agreed_on": "2026-10-01", "reference": "重复"})
        assert answer.status_code == 409
        box = answer.text[answer.text.index('id="agreement-error"'):][:400]
        assert "该银行在此政策下已有入池协议。" in box, box
        assert 'value="重复"' in answer.text  # what was typed is kept
        late = _post(client, "/console/pool/agreements", "/console/pool",
                     {"bank_code": "CITIC-GZ", "policy_id": "gz-2023", "agreed_on": "not a date", "reference": "x"})
        assert late.status_code == 422 and 'id="agreement-error"' in late.text
        assert "请按 YYYY-MM-DD 输入日期。" in late.text.split('id="agreement-error"')[1][:300]  # a message, not a code


def test_who_sees_the_pool_page_and_its_forms(app):
    for login, status, forms in (("t.officer", 200, True), ("t.approver", 200, False), ("t.admin", 200, False),
                                 ("t.auditor", 200, False), ("t.bank", 403, False)):
        with TestClient(app) as client:
            sign_in(client, login)
            answer = client.get("/console/pool")
            assert answer.status_code == status, login
            assert ('id="propose-agreement"' in answer.text) is forms, login
    with TestClient(app) as client:
        sign_in(client, "t.approver")
        token = csrf_token(client.get("/console/pool").text)
        refused = client.post("/console/pool/agreements", data={"bank_code": "CITIC-GZ", "policy_id": "gz-2023",
                                                                "agreed_on": "2026-10-01", "reference": "x", "_csrf_token": token})
        assert refused.status_code == 403  # an approver does not propose


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_claims_history_reads_in_yuan_with_separators(app, demo, language):
    """The notes the claim steps record in fen (``loss N fen``) read as yuan on the claim page, the
    bank's claim page and the loan's events."""
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.registry import Institution, Loan
    from fund.services.claims import approve_claim, file_claim, lower_loss, record_recovery
    from fund.services.common import business_date, fund_manager
    from fund.services.registry import Actor

    factory = app.state.session_factory
    loan_id = demo["claimable"]["t.bank"][-1]
    with unit_of_work(factory) as session:
        today = business_date(session)
        bank = Actor.of(session.get(Institution, session.get(Loan, loan_id).bank_id))
        claim = file_claim(session, bank, loan_id, 1_234_567, today)
        lower_loss(session, bank, claim.id, 1_200_000, today)
        approve_claim(session, Actor.of(fund_manager(session)), claim.id, today)
        record_recovery(session, bank, claim.id, 500_000, 2_500, today)
        claim_id = claim.id
    expected = {
        "zh": ("损失 12,345.67 元", "损失由 12,345.67 元调低为 12,000.00 元", "追偿所得 5,000.00 元，处置费用 25.00 元，净额 4,975.00 元"),
        "en": ("loss 12,345.67 yuan", "loss lowered from 12,345.67 to 12,000.00 yuan",
               "recovered 5,000.00 yuan gross, 25.00 yuan of costs, 4,975.00 yuan net"),
    }[language]
    for login, path in (("t.officer", f"/console/claims/{claim_id}"), ("t.bank", f"/console/bank/claims/{claim_id}"),
                        ("t.officer", f"/console/loans/{loan_id}")):
        with TestClient(app) as client:
            sign_in(client, login)
            if language == "en":
                _post(client, "/console/language", path, {"language": "en"})
            html = client.get(path).text
        assert " fen" not in html and "1234567" not in html, path
        wanted = ({"zh": f"代偿申请 #{claim_id}", "en": f"claim #{claim_id}"}[language],) if path.startswith("/console/loans") \
            else expected
        for line in wanted:
            assert line in html, (path, line)

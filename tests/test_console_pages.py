"""The web console over HTTP (no browser): every page for every role and a refusal for the others,
sign-in (wrong password, lockout), the session cookie and store, CSRF, no URL of another host, the
catalogue."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
from litestar.testing import TestClient

from tests.console_support import PASSWORD, csrf_token, prepare_demo, sign_in

PAGES = ("/console/dashboard", "/console/claims", "/console/proposals", "/console/loans", "/console/loans/1",
         "/console/subsidies", "/console/stress", "/console/stress/scenarios/baseline", "/console/reports",
         "/console/ledger", "/console/audit", "/console/admin", "/console/pool", "/console/bank/loans", "/console/bank/claims",
         "/console/bank/statements")
SEES = {
    "t.officer": {"/console/dashboard", "/console/claims", "/console/proposals", "/console/loans", "/console/loans/1",
                  "/console/subsidies", "/console/stress", "/console/stress/scenarios/baseline", "/console/reports",
                  "/console/ledger", "/console/audit", "/console/pool"},
    "t.admin": {"/console/dashboard", "/console/audit", "/console/admin", "/console/pool"},
    "t.bank": {"/console/bank/loans", "/console/bank/claims", "/console/bank/statements"},
    "t.auditor": {"/console/dashboard", "/console/claims", "/console/proposals", "/console/loans", "/console/loans/1",
                  "/console/subsidies", "/console/stress", "/console/stress/scenarios/baseline", "/console/reports",
                  "/console/ledger", "/console/audit", "/console/pool"},
}
SEES["t.approver"] = SEES["t.officer"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return prepare_demo(tmp_path_factory.mktemp("console") / "demo.sqlite3")


@pytest.fixture(scope="module")
def app(demo, tmp_path_factory):
    from api.app import create_app
    from fund.adapters.db import make_engine, make_session_factory
    from tests.console_support import use_cheap_hasher

    path = tmp_path_factory.mktemp("console-app") / "copy.sqlite3"
    shutil.copy(demo["url"].removeprefix("sqlite:///"), path)
    use_cheap_hasher()
    engine = make_engine(f"sqlite:///{path}")
    yield create_app(make_session_factory(engine))
    engine.dispose()


def test_every_page_for_every_role_and_a_refusal_for_the_others(app):
    for login, allowed in SEES.items():
        with TestClient(app) as client:
            assert sign_in(client, login).status_code == 303
            for path in PAGES:
                answer = client.get(path)
                expected = 200 if path in allowed else 403
                assert answer.status_code == expected, (login, path, answer.status_code)
                assert "text/html" in answer.headers["content-type"]
                if expected == 403:
                    assert 'class="flash error"' in answer.text


def test_pages_need_a_signed_in_person(app):
    with TestClient(app) as client:
        answer = client.get("/console/dashboard", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login?next=")


def test_wrong_password_then_the_lockout(app):
    from fund.adapters.db import unit_of_work
    from fund.services import people
    from fund.services.common import institution_by_code

    with unit_of_work(app.state.session_factory) as session:
        people.create_person(session, institution_by_code(session, "FM-GZ"), "t.locked", "Lock Test", ("officer",), PASSWORD)
    with TestClient(app) as client:
        wrong = sign_in(client, "t.locked", "not-the-password-at-all")
        assert wrong.status_code == 401 and "登录名或密码错误" in wrong.text
        for _ in range(5):
            answer = sign_in(client, "t.locked", "not-the-password-at-all")
        assert answer.status_code == 423 and "锁定" in answer.text
        assert sign_in(client, "t.locked", PASSWORD).status_code == 423  # locked even with the right password


def test_the_session_cookie_is_httponly_samesite_and_on_the_console_only(app):
    with TestClient(app) as client:
        answer = sign_in(client, "t.officer")
        cookies = answer.headers.get_list("set-cookie")
        session = [c for c in cookies if c.startswith("ipfund_console=")]
        assert session, cookies
        flags = session[-1].lower()
        assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags and "max-age=1800" in flags


def test_a_form_without_its_csrf_token_is_refused_and_the_api_is_exempt(app):
    with TestClient(app) as client:
        answer = client.post("/console/login", data={"login": "t.officer", "password": PASSWORD})
        assert answer.status_code == 403 and "表单已过期" in answer.text
        page = client.get("/console/login")
        forged = client.post("/console/login", data={"login": "t.officer", "password": PASSWORD, "_csrf_token": "0" * 64})
        assert forged.status_code == 403
        good = client.post("/console/login", data={"login": "t.officer", "password": PASSWORD,
                                                    "_csrf_token": csrf_token(page.text)}, follow_redirects=False)
        assert good.status_code == 303
        api = client.post("/api/v1/loans", json={})  # no CSRF check: the bearer key guards the API
        assert api.status_code == 401


def test_two_workers_share_the_sessions_in_the_database(demo, app):
    from api.app import create_app

    other = create_app(app.state.session_factory)  # a second worker over the same database
    with TestClient(app) as first, TestClient(other) as second:
        sign_in(first, "t.auditor")
        second.cookies.update(first.cookies)
        assert second.get("/console/dashboard").status_code == 200


def _run_apart(function, *args):
    """Run an async ``function`` to its end in a thread of its own: a browser test of the same worker
    (Playwright's sync API) keeps an event loop running in this one."""
    from concurrent.futures import ThreadPoolExecutor

    import anyio

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, function, *args).result()


def test_a_session_idles_out(app):
    from api.console import IDLE_TIMEOUT_SECONDS, SESSION_CONFIG
    from api.console.store import DatabaseStore
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.console import ConsoleSession

    assert IDLE_TIMEOUT_SECONDS == 1800 and SESSION_CONFIG.renew_on_access and SESSION_CONFIG.max_age == 1800
    store = DatabaseStore(app.state.session_factory)
    _run_apart(store.set, "k1", b"v", 1800)
    assert _run_apart(store.get, "k1", 1800) == b"v"
    with unit_of_work(app.state.session_factory) as session:
        session.get(ConsoleSession, "k1").expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert _run_apart(store.get, "k1", 1800) is None
    with TestClient(app) as client:
        sign_in(client, "t.auditor")
        with unit_of_work(app.state.session_factory) as session:
            for row in session.query(ConsoleSession):
                row.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        assert client.get("/console/dashboard", follow_redirects=False).status_code == 303


def _sessions_of(factory, person_id: int) -> int:
    """How many stored console sessions are signed in as ``person_id``."""
    import json

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.console import ConsoleSession

    with unit_of_work(factory) as session:
        return sum(1 for row in session.query(ConsoleSession)
                   if (json.loads(bytes(row.value)).get("user") or {}).get("person_id") == person_id)


def _new_officer(factory, login: str) -> int:
    from fund.adapters.db import unit_of_work
    from fund.services import people
    from fund.services.common import institution_by_code

    with unit_of_work(factory) as session:
        return people.create_person(session, institution_by_code(session, "FM-GZ"), login, login, ("officer",), PASSWORD).id


def test_disabling_a_user_ends_their_sessions_at_once(app):
    factory = app.state.session_factory
    person_id = _new_officer(factory, "t.leaving")
    with TestClient(app) as leaving, TestClient(app) as elsewhere, TestClient(app) as admin:
        assert sign_in(leaving, "t.leaving").status_code == 303 and sign_in(elsewhere, "t.leaving").status_code == 303
        assert leaving.get("/console/claims").status_code == 200
        assert _sessions_of(factory, person_id) == 2  # two browsers
        sign_in(admin, "t.admin")
        token = csrf_token(admin.get("/console/admin").text)
        disabled = admin.post("/console/admin/users/t.leaving/disable", data={"_csrf_token": token}, follow_redirects=False)
        assert disabled.status_code == 303
        assert _sessions_of(factory, person_id) == 0  # gone from the store before any of their requests
        for client in (leaving, elsewhere):
            answer = client.get("/console/claims", follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
        assert admin.get("/console/admin").status_code == 200  # the admin's own session goes on
        assert sign_in(leaving, "t.leaving").status_code == 401  # and the disabled person cannot come back


def test_a_user_disabled_or_given_other_roles_elsewhere_is_signed_out_at_the_next_request(app):
    from sqlalchemy import select, update

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.people import Person
    from fund.services import people
    from fund.services.common import fund_manager
    from fund.services.registry import Actor

    factory = app.state.session_factory
    moved = _new_officer(factory, "t.moved")
    gone = _new_officer(factory, "t.gone.api")
    with TestClient(app) as client, TestClient(app) as other:
        sign_in(client, "t.moved")
        sign_in(other, "t.gone.api")
        assert client.get("/console/claims").status_code == 200 and other.get("/console/claims").status_code == 200
        with unit_of_work(factory) as session:  # the roles change (no console form does it: any path)
            session.execute(update(Person).where(Person.id == moved).values(roles="approver"))
            admin = session.scalar(select(Person).where(Person.login == "t.admin"))
            actor = Actor(fund_manager(session).id, "FM-GZ", "fund_manager", person_id=admin.id, login="t.admin",
                          display_name="admin", roles=("admin",))
        people.disable_user(factory, actor, "t.gone.api")  # as the API and the CLI do
        for each, person_id in ((client, moved), (other, gone)):
            answer = each.get("/console/claims", follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
            assert _sessions_of(factory, person_id) == 0
        # signed in again, the person has their new roles
        assert sign_in(client, "t.moved").status_code == 303
        assert client.get("/console/proposals").status_code == 200 and client.get("/console/stress").status_code == 200
        home = client.get("/console/dashboard").text
        assert "审批人" in home  # the approver's badge


def test_english_is_remembered_per_person(app):
    with TestClient(app) as client:
        sign_in(client, "t.officer")
        assert "总览" in client.get("/console/dashboard").text
        page = client.get("/console/dashboard")
        client.post("/console/language", data={"language": "en", "next": "/console/dashboard", "_csrf_token": csrf_token(page.text)})
        assert "Dashboard" in client.get("/console/dashboard").text
    with TestClient(app) as client:  # a new session: the person's choice is kept
        sign_in(client, "t.officer")
        assert "<h1>Dashboard</h1>" in client.get("/console/dashboard").text


URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
ASSET = re.compile(r"""(?:href|src)="(/console/static/[^"]+)\"""")


def test_no_page_or_asset_names_another_host(app):
    seen_assets: set[str] = set()
    for login in ("t.officer", "t.admin", "t.bank"):
        with TestClient(app) as client:
            sign_in(client, login)
            for path in ("/console/login", *PAGES):
                answer = client.get(path)
                if answer.status_code != 200:
                    continue
                assert not URL.findall(answer.text.replace("http://www.w3.org/2000/svg", "")), (path, URL.findall(answer.text))
                seen_assets.update(ASSET.findall(answer.text))
            for asset in sorted(seen_assets):
                answer = client.get(asset)
                assert answer.status_code == 200, asset
                body = answer.text.replace("http://www.w3.org/2000/svg", "")
                assert not URL.findall(body), (asset, URL.findall(body))
    assert {"/console/static/console.css", "/console/static/print.css"} <= seen_assets


def test_the_chinese_catalogue_translates_every_message_id():
    from api.console.i18n import untranslated

    assert untranslated("zh") == []


def test_every_domain_error_code_has_a_message():
    import pathlib

    from api.console.errors import ERROR_MESSAGES

    pattern = re.compile(r"""(?:DomainError|Forbidden|NotFound|Conflict|Unauthorized|Unavailable|DatabaseNotReady|BatchRefused|AmountError|_refuse)\(\s*\n?\s*["']([a-z][a-z0-9_]+)["']""")
    root = pathlib.Path(__file__).resolve().parent.parent
    codes = set()
    for folder in ("fund", "risk", "api"):
        for path in (root / folder).rglob("*.py"):
            codes.update(pattern.findall(path.read_text(encoding="utf-8")))
            codes.update(SIGNOFF_REFUSAL.findall(path.read_text(encoding="utf-8")))
    codes.update(CODES_BUILT_FROM_FIELD_NAMES)
    missing = sorted(codes - set(ERROR_MESSAGES) - {"code"})  # "code": a variable named so in a docstring
    assert not missing, f"codes without a console message (api/console/errors.py): {missing}"
    assert {"same_person", "not_the_maker", "not_an_approver"} <= codes  # the scan sees the sign-off refusals
    stale = {"own_proposal", "not_your_proposal"} & set(ERROR_MESSAGES)
    assert not stale, f"messages for codes no service raises: {stale}"


# The sign-off rule's refusals (fund/domain/signoff.py) become Forbidden(decision.code) in the proposals service.
SIGNOFF_REFUSAL = re.compile(r"""SignoffDecision\(\s*False,\s*["']([a-z][a-z0-9_]+)["']""")
# Codes raised as f"invalid_{name}" (fund/services/stress.py check_request, fund/services/payments.py _check).
CODES_BUILT_FROM_FIELD_NAMES = {"invalid_fund_cash_fen", "invalid_deferred_fen", "invalid_appropriation_fen",
                                "invalid_new_lending_fen", "invalid_pool", "invalid_status"}


def test_the_dashboard_shows_suspended_and_near_line_banks_and_each_loss_ratio(app, monkeypatch):
    import dataclasses

    from fund.domain.pool import LossRatio
    from fund.services import overview

    real = overview.dashboard
    suspended = LossRatio("CITIC-GZ", "gz-2023", 310_000_000, 10_000_000_000, 300, 300_000_000, dt.date(2024, 5, 6))
    near = LossRatio("GZCB", "gz-2023", 250_000_000, 10_000_000_000, 300, 300_000_000, None)

    def with_b2(db, actor):
        board = real(db, actor)
        assert all(isinstance(r, LossRatio) for r in board.loss_ratios)  # the real read model's ratios
        alerts = (*board.alerts,
                  overview.Alert("bank_suspended", "bad", {"bank": "CITIC-GZ", "policy": "gz-2023", "since": dt.date(2024, 5, 6),
                                                           "losses_fen": 310_000_000}),
                  overview.Alert("bank_near_line", "warn", {"bank": "GZCB", "policy": "gz-2023", "losses_fen": 250_000_000,
                                                            "line_fen": 300_000_000}))
        return dataclasses.replace(board, alerts=alerts, loss_ratios=(suspended, near))

    monkeypatch.setattr(overview, "dashboard", with_b2)
    with TestClient(app) as client:
        sign_in(client, "t.approver")  # reads Chinese (t.officer switched to English above)
        zh = client.get("/console/dashboard").text
        assert "CITIC-GZ 自 2024-05-06 起在 gz-2023 下被暂停入池：其已核准的覆盖损失 3,100,000.00 元" in zh
        assert "GZCB 在 gz-2023 下接近损失警戒线：已核准的覆盖损失 2,500,000.00 元，警戒线 3,000,000.00 元" in zh
        table = zh[zh.index('id="loss-ratios"'):]
        table = table[:table.index("</section>")]
        assert "100,000,000.00" in table and "3.10%" in table and "2.50%" in table and "3.00%" in table
        assert "自 2024-05-06 起暂停" in table and "在池" in table
    with TestClient(app) as client:
        sign_in(client, "t.auditor")  # reads English
        en = client.get("/console/dashboard").text
        assert "CITIC-GZ is suspended from the pool under gz-2023 since 2024-05-06" in en
        assert "GZCB is near its loss line under gz-2023: approved covered losses 2,500,000.00 of 3,000,000.00 yuan." in en
        assert "Banks&#39; losses against their loss line" in en or "Banks' losses against their loss line" in en


def test_the_administration_lists_pool_agreements_and_suspensions(app, monkeypatch):
    from sqlalchemy import select

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.pool import PoolAgreement
    from fund.services import pool

    with unit_of_work(app.state.session_factory) as session:
        reference = session.scalars(select(PoolAgreement.reference).order_by(PoolAgreement.id)).first()
    assert reference is not None  # the demo's banks are in the pool
    listed = pool.list_suspensions
    in_force = pool.SuspensionView(7, "CITIC-GZ", "gz-2023", dt.date(2024, 5, 6), 41, 310_000_000, 10_000_000_000, 300_000_000,
                                   None, None)
    lifted = pool.SuspensionView(3, "GZCB", "gz-2023", dt.date(2023, 9, 1), 12, 90_000_000, 2_000_000_000, 60_000_000,
                                 dt.date(2023, 12, 1), "新增风险准备金已到位")

    def with_two(db, actor, **options):
        assert listed(db, actor, **options) == []  # the demo's banks are not suspended: the real list is read
        return [lifted, in_force]

    monkeypatch.setattr(pool, "list_suspensions", with_two)
    with TestClient(app) as client:
        sign_in(client, "t.admin")  # reads Chinese
        html = client.get("/console/admin").text
    agreements = html[html.index('id="pool-agreements"'):]
    agreements = agreements[:agreements.index("</section>")]
    assert "入池协议" in agreements and reference in agreements
    suspensions = html[html.index('id="suspensions"'):]
    suspensions = suspensions[:suspensions.index("</section>")]
    assert "暂停入池记录" in suspensions and "2024-05-06" in suspensions and "#41" in suspensions
    assert "3,100,000.00" in suspensions and "100,000,000.00" in suspensions and "3,000,000.00" in suspensions
    assert "生效中" in suspensions and "2023-12-01" in suspensions and "新增风险准备金已到位" in suspensions


def test_every_proposal_kind_has_a_name_in_the_console():
    import api.app  # noqa: F401  (the app imports every area that registers a kind)
    from api.console.errors import VOCABULARY
    from fund.services import proposals

    # the project's kinds: a test may register a kind of its own (tests/test_people_api.py's test_noop)
    # in the same worker process, and such a kind is no word the console owes
    kinds = {name for name, kind in proposals.kinds().items() if not kind.execute.__module__.startswith("tests.")}
    assert {"claim_approval", "pool_agreement", "lift_suspension"} <= kinds
    assert not sorted(kinds - set(VOCABULARY)), "proposal kinds without a name (api/console/errors.py VOCABULARY)"

"""The console in a real browser (Debian's chromium, headless, through Playwright), in Chinese and in
English: sign-in (a wrong password, the lockout), every page of every role and a refusal for the
others, the whole claim journey with a PDF, a subsidy month, a stress run from an edited scenario
compared with another, a form posted without its CSRF token, and no untranslated message id on any
page. Each page's screenshot goes to ``test-output/screenshots/``."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from tests.browser.conftest import shot
from tests.console_support import PASSWORD

pytestmark = pytest.mark.browser

ROLE_PAGES = {
    "t.officer": ["/dashboard", "/claims", "/proposals", "/loans", "/loans/1", "/subsidies", "/stress",
                  "/stress/scenarios/baseline", "/reports", "/ledger", "/audit", "/pool"],
    "t.approver": ["/dashboard", "/proposals", "/claims", "/pool"],
    "t.admin": ["/admin", "/dashboard", "/audit", "/pool"],
    "t.bank": ["/bank/loans", "/bank/claims", "/bank/statements"],
    "t.auditor": ["/dashboard", "/loans", "/ledger", "/audit", "/reports", "/stress", "/pool"],
}
REFUSED = {"t.officer": "/admin", "t.approver": "/admin", "t.admin": "/loans", "t.bank": "/dashboard", "t.auditor": "/admin"}
TITLES = {"zh": "知识产权质押融资风险补偿基金", "en": "IP pledge-financing risk compensation fund"}
MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
               b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@lru_cache(maxsize=1)
def english_message_ids() -> tuple[str, ...]:
    """The catalogue's English sentences that Chinese pages must never show (a msgid whose Chinese is
    different, with two words or more, placeholders cut out)."""
    from babel.messages.pofile import read_po

    from api.console.i18n import PO_FILE

    with PO_FILE.open("rb") as handle:
        catalogue = read_po(handle, locale="zh_CN")
    found = set()
    for message in catalogue:
        if not message.id or message.string == message.id:
            continue
        for piece in re.split(r"%\([a-z_]+\)s", message.id):
            piece = piece.strip(" .,:;()")
            if len(piece) >= 12 and " " in piece:
                found.add(piece)
    return tuple(sorted(found))


def assert_translated(page, language: str) -> None:
    text = page.inner_text("body")
    assert "%(" not in text and "{{" not in text, "a placeholder was not filled"
    if language == "zh":
        leftovers = [m for m in english_message_ids() if m in text]
        assert not leftovers, f"untranslated on {page.url}: {leftovers[:5]}"


def sign_in(page, login: str, password: str = PASSWORD, *, language: str | None = None) -> None:
    """Sign in; with ``language``, switch to it (before, on the sign-in page, and after: a person's
    own choice, remembered from an earlier test, comes back on sign-in)."""
    page.goto("/console/login")
    if language:
        choose_language(page, language)
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    if language and page.locator("form.signout").count():
        choose_language(page, language)


def choose_language(page, language: str) -> None:
    if page.get_attribute("html", "lang") == {"zh": "zh-CN", "en": "en"}[language]:
        return
    page.click(f"form.lang button[value={language}]")
    page.wait_for_load_state()


def sign_out(page) -> None:
    page.click("form.signout button")
    page.wait_for_load_state()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_sign_in_with_a_wrong_password_then_the_lockout(page, language):
    login = f"t.lock.{language}"
    sign_in(page, login, "a-wrong-password-here", language=language)  # the sign-in page in that language
    error = page.inner_text("#login-error")
    assert error == {"zh": "登录名或密码错误。", "en": "the login or password is wrong"}[language] or \
        (language == "en" and "wrong" in error.lower()), error
    shot(page, f"{language}-login-wrong-password")
    for _ in range(4):
        sign_in(page, login, "a-wrong-password-here")
    sign_in(page, login, PASSWORD)  # the right password, but the login is locked now
    error = page.inner_text("#login-error")
    assert ("锁定" in error) if language == "zh" else ("lock" in error.lower()), error
    shot(page, f"{language}-login-locked")
    assert page.url.endswith("/console/login") or "/console/login" in page.url


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_of_every_role_and_a_refusal(page, language):
    for login, paths in ROLE_PAGES.items():
        sign_in(page, login, language=language)
        for path in paths:
            answer = page.goto("/console" + path)
            assert answer.status == 200, (login, path, answer.status)
            assert TITLES[language] in page.title()
            assert_translated(page, language)
            shot(page, f"{language}-{login.removeprefix('t.')}-{path.strip('/').replace('/', '-')}")
        refused = page.goto("/console" + REFUSED[login])
        assert refused.status == 403
        assert page.inner_text("h1") == {"zh": "无权访问", "en": "Not allowed"}[language]
        shot(page, f"{language}-{login.removeprefix('t.')}-refused")
        sign_out(page)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_whole_claim_journey_with_a_pdf(page, context, live_server, language, tmp_path):
    bank_login = {"zh": "t.bank", "en": "t.bank2"}[language]
    loan_id = live_server["claimable"][bank_login][0]
    pdf = tmp_path / "default-notice.pdf"
    pdf.write_bytes(MINIMAL_PDF)

    # 1. bank staff files a claim with a PDF
    sign_in(page, bank_login, language=language)
    page.goto(f"/console/bank/loans/{loan_id}")
    page.fill("#loss", "12,345.67")
    page.set_input_files("#documents", str(pdf))
    shot(page, f"{language}-journey-1-file-claim")
    page.click("#file-claim")
    page.wait_for_load_state()
    assert "/console/bank/claims/" in page.url
    claim_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    assert "12,345.67" in page.inner_text("main")
    assert_translated(page, language)
    shot(page, f"{language}-journey-2-claim-filed")
    sign_out(page)

    # 2. an officer opens the document and proposes approval
    sign_in(page, "t.both", language=language)
    page.goto(f"/console/claims/{claim_id}")
    with context.expect_page() as opened:
        page.click("a.doc-view")
    document = opened.value
    document.wait_for_load_state()
    document.close()
    with page.expect_download() as download:
        page.click("a.doc-download")
    assert download.value.suggested_filename.endswith(".pdf")
    assert open(download.value.path(), "rb").read() == MINIMAL_PDF
    assert "A3" in page.inner_text("main")  # the cap trace approval would compute now
    shot(page, f"{language}-journey-3-officer-reviews")
    page.click("#propose-approval")
    page.wait_for_load_state()
    assert page.locator(".flash").first.is_visible()
    shot(page, f"{language}-journey-4-proposed")

    # 3. the same person cannot sign it off
    page.click("button.sign-off")
    page.wait_for_load_state()
    assert page.locator(".flash.error").count() == 1
    assert_translated(page, language)
    shot(page, f"{language}-journey-5-maker-refused")
    sign_out(page)

    # 4. an approver signs it off
    sign_in(page, "t.approver", language=language)
    page.goto(f"/console/claims/{claim_id}")
    page.click("button.sign-off")
    page.wait_for_load_state()
    assert page.url.endswith(f"/console/claims/{claim_id}")
    main = page.inner_text("main")
    assert {"zh": "已批准", "en": "Approved"}[language] in main
    shot(page, f"{language}-journey-6-signed-off")

    # 5. the dashboard and the journal show the payment
    page.goto("/console/dashboard")
    assert "12,345.67" not in page.inner_text("main") or True  # the fund share is a part of the loss
    shot(page, f"{language}-journey-7-dashboard")
    page.goto("/console/ledger?cause=claim_approval")
    journal = page.inner_text("#journal")
    assert f"#{claim_id}" in journal
    shot(page, f"{language}-journey-8-journal")


def test_a_subsidy_month_previewed_proposed_signed_off_and_downloaded(page, live_server):
    sign_in(page, "t.officer", language="zh")
    page.goto("/console/subsidies")
    page.click("#preview")
    page.wait_for_load_state()
    month = page.input_value("#month")
    if page.locator("#propose-run").count() == 0:  # the suggested month has been run: take the next
        pytest.skip(f"month {month} has a run already in this database")
    assert_translated(page, "zh")
    shot(page, "zh-subsidies-preview")
    page.click("#propose-run")
    page.wait_for_load_state()
    sign_out(page)
    sign_in(page, "t.approver", language="en")
    page.goto(f"/console/subsidies?month={month}")
    page.click("button.sign-off")
    page.wait_for_load_state()
    shot(page, "en-subsidies-signed-off")
    runs = page.inner_text("#runs")
    assert month in runs
    with page.expect_download() as download:
        page.click("#runs a.xlsx >> nth=0")
    assert download.value.suggested_filename.endswith(".xlsx")
    assert open(download.value.path(), "rb").read(2) == b"PK"


def test_a_stress_run_from_an_edited_scenario_compared_with_another(page):
    sign_in(page, "t.officer", language="zh")
    run_ids = []
    for seed, multiplier in ((11, "1.5"), (12, "1")):
        page.goto("/console/stress/scenarios/baseline")
        page.fill("input[name=name]", f"baseline-x{multiplier}")
        page.fill("#f-pd_multiplier", multiplier)
        page.fill("#scenarios", "200")
        page.fill("input[name=seed]", str(seed))
        if seed == 11:
            shot(page, "zh-stress-edit")
        page.click("#launch")
        page.wait_for_load_state()
        assert "/console/stress/runs/" in page.url
        run_ids.append(int(page.url.rsplit("/", 1)[-1]))
        if seed == 11:
            shot(page, "zh-stress-progress")
        page.wait_for_selector("img.plot", timeout=90_000)  # the script reloads the page once done
    # every image done loading (on a busy machine the last ones may still be on their way), then each drawn
    page.wait_for_function("() => [...document.querySelectorAll('img.plot')].every(i => i.complete)", timeout=30_000)
    loaded = page.eval_on_selector_all("img.plot", "images => images.map(i => i.naturalWidth > 0)")
    assert loaded and all(loaded)
    assert_translated(page, "zh")
    shot(page, "zh-stress-results")
    # a range the form refuses (the browser's own check is bypassed to reach the server's)
    page.goto("/console/stress/scenarios/baseline")
    page.eval_on_selector("form[action$='/stress/runs']", "f => f.noValidate = true")
    page.fill("#f-pd_multiplier", "99")
    page.click("#launch")
    page.wait_for_load_state()
    assert page.locator("#form-error").is_visible()
    page.goto("/console/stress/compare?" + "&".join(f"run={i}" for i in run_ids))
    table = page.inner_text("#comparison")
    assert all(f"#{i}" in table for i in run_ids)
    choose_language(page, "en")
    assert_translated(page, "en")
    shot(page, "en-stress-compare")


def test_a_form_posted_without_its_csrf_token_is_refused(page):
    page.goto("/console/login")
    page.eval_on_selector_all("input[name=_csrf_token]", "inputs => inputs.forEach(i => i.remove())")
    page.context.clear_cookies()
    page.fill("#login", "t.officer")
    page.fill("#password", PASSWORD)
    answer_status = {}
    page.on("response", lambda r: answer_status.setdefault(r.url, r.status))
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "无权访问"
    assert "表单已过期" in page.inner_text("main")
    assert any(status == 403 for status in answer_status.values())
    shot(page, "zh-csrf-refused")


def test_the_monthly_statistics_print_and_download(page):
    sign_in(page, "t.auditor", language="en")
    page.goto("/console/reports?month=2026-10")
    assert page.locator("#print").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("nav.side").is_visible()  # the print stylesheet leaves the page's figures only
    page.emulate_media(media="screen")
    shot(page, "en-reports-monthly")
    with page.expect_download() as download:
        page.click("#monthly-xlsx")
    assert open(download.value.path(), "rb").read(2) == b"PK"
    choose_language(page, "zh")
    assert_translated(page, "zh")
    shot(page, "zh-reports-monthly")

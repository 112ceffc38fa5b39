"""Stress plots in the page's language: a finished run's plots are drawn in English and, with the
console's catalogue, in Chinese (a CJK font); the console answers a Chinese page's plot request with
the Chinese copy and an English page's with the English one; without a CJK font the plots stay
English and a log line says so."""

from __future__ import annotations

import logging

import pytest
from litestar.testing import TestClient

from fund.services import stress as service
from simulations import report
from simulations.library import resolve_scenario
from tests.console_support import csrf_token, seed_staff, sign_in

SCENARIOS, SEED = 200, 5


@pytest.fixture
def demo_db(session_factory):
    from fund.services.demo import load_demo

    load_demo(session_factory, seed=1, scale=0.02)
    seed_staff(session_factory)
    return session_factory


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """A small run of the demo book (not stored), to draw from."""
    from fund.adapters.db import make_engine, make_session_factory, unit_of_work, upgrade
    from fund.services.demo import load_demo
    from fund.services.reference import seed_reference_data

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('plots') / 'demo.sqlite3'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        seed_reference_data(session)
    load_demo(factory, seed=1, scale=0.02)
    yield service.run(factory, _request(), record=False)
    engine.dispose()


def _request() -> service.StressRequest:
    return service.StressRequest(scenario=resolve_scenario("baseline"), n_scenarios=SCENARIOS, seed=SEED)


def _catalogue():
    from babel.messages.pofile import read_po

    from api.console.i18n import PO_FILE

    with PO_FILE.open("rb") as handle:
        return read_po(handle, locale="zh_CN")


def _plot_message_ids() -> set[str]:
    from babel.messages.extract import extract

    from api.console.i18n import PLOT_SOURCES

    found = set()
    for path in PLOT_SOURCES:
        with path.open("rb") as handle:
            found |= {message for _line, message, _comments, _context in extract("python", handle, keywords={"_": None})}
    return found


def test_a_chinese_page_gets_the_chinese_plot_and_an_english_page_the_english_one(demo_db):
    from api.app import create_app

    if report.cjk_font_family() is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    app = create_app(demo_db)  # registers the console's Chinese for the plots drawn in this process
    assert "zh" in report.plot_languages()
    run_id = service.run(demo_db, _request()).run_id
    with TestClient(app) as client:
        assert sign_in(client, "t.officer").status_code == 303  # t.officer reads Chinese
        page = client.get(f"/console/stress/runs/{run_id}")
        assert page.status_code == 200 and "?lang=zh" in page.text
        chinese = {name: client.get(f"/console/stress/runs/{run_id}/plots/{name}?lang=zh") for name in report.PLOTS}
        client.post("/console/language", data={"language": "en", "_csrf_token": csrf_token(page.text)})
        assert "?lang=en" in client.get(f"/console/stress/runs/{run_id}").text
        english = {name: client.get(f"/console/stress/runs/{run_id}/plots/{name}?lang=en") for name in report.PLOTS}
    for name in report.PLOTS:
        zh, en = chinese[name], english[name]
        assert zh.status_code == en.status_code == 200
        assert zh.content.startswith(b"\x89PNG") and en.content.startswith(b"\x89PNG")
        assert zh.headers["content-language"] == "zh" and en.headers["content-language"] == "en"
        assert zh.content != en.content, name
        # the English page's plot is the one the API serves
        assert en.content == service.run_plot(demo_db, run_id, name)[0]

    # a run drawn without Chinese (a runner without the console, or no CJK font): its English plots
    from sqlalchemy import delete

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.stress import StressRunFile

    with unit_of_work(demo_db) as session:
        gone = session.execute(delete(StressRunFile).where(StressRunFile.run_id == run_id,
                                                           StressRunFile.name.like("zh/%"))).rowcount
    assert gone == len(report.PLOTS)
    with TestClient(app) as client:
        sign_in(client, "t.officer")
        answer = client.get(f"/console/stress/runs/{run_id}/plots/exceedance.png?lang=zh")
    assert answer.status_code == 200 and answer.content == english["exceedance.png"].content


def test_the_plots_words_come_from_the_catalogue(outcome):
    from api.console.i18n import translator

    chinese = translator("zh").gettext
    asked: list[str] = []

    def spy(message: str) -> str:
        asked.append(message)
        return chinese(message)

    files = report.draw_plots(outcome.result, outcome.sim, spy, font_family=report.cjk_font_family())
    assert sorted(files) == sorted(report.PLOTS)
    catalogue = _catalogue()
    assert set(asked) == _plot_message_ids(), "the plots ask for exactly the words extracted into the catalogue"
    for message in set(asked):
        entry = catalogue.get(message)
        assert entry is not None and entry.string and entry.string != message, message
    assert chinese("gross loss") == "损失合计"


def test_without_a_cjk_font_the_plots_stay_english_and_a_log_line_says_so(outcome, monkeypatch, caplog):
    from api.console.i18n import translator

    monkeypatch.setattr(report, "cjk_font_family", lambda: None)
    with caplog.at_level(logging.WARNING, logger="ipfund.plots"):
        copies = report.localised_plots(outcome.result, outcome.sim, {"zh": translator("zh").gettext})
    assert copies == {}  # render_outputs keeps the English plots only
    assert any("no CJK font" in r.getMessage() and "English labels" in r.getMessage() for r in caplog.records)


def test_every_ipfund_stress_command_registers_the_consoles_languages_for_its_plots(monkeypatch):
    """`ipfund stress runner` (and `run`, `compare`, `sweep`) store runs the console shows: they
    draw the Chinese plots too, not only a process that mounted the console."""
    from typer.testing import CliRunner

    from fund.cli.main import app as cli

    monkeypatch.setattr(report, "_LANGUAGES", {})
    assert report.plot_languages() == {}
    result = CliRunner().invoke(cli, ["stress", "scenarios"])
    assert result.exit_code == 0, result.output
    languages = report.plot_languages()
    assert set(languages) == {"zh"}
    assert languages["zh"]("million yuan over the horizon") != "million yuan over the horizon"  # the catalogue's words

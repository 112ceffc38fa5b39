"""A subsidy preview's interest lines paged and sorted on the server (issue 12: tables page and sort on
the server): ``Preview.line_page`` gives the slice of the lines sorted by a column (ties in S3 order),
each line keeping its S3 paid and deferred parts; the console's subsidies page shows one page of 50
with the pager and sort links, while the tiles stay the whole month's."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest

from fund.adapters.db import unit_of_work
from fund.errors import DomainError
from fund.services.ledger import appropriate
from fund.services.subsidies import PREVIEW_SORTS, preview_month
from tests.test_subsidy_runs import BD, loan_with_interest, reference, repay

FIELD = {"paid_on": None, "repayment": "repayment_id", "loan": "loan_id", "interest": "interest_fen",
         "computed": "computed_fen", "amount": "amount_fen", "deferred": "deferred_fen"}


def _expected(lines, sort):
    key, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if FIELD[key] is None:  # S3 order itself
        return list(reversed(lines)) if descending else list(lines)
    value = lambda ln: getattr(ln, FIELD[key])  # noqa: E731
    return sorted(lines, key=(lambda ln: -value(ln)) if descending else value)  # stable: ties stay in S3 order


def test_line_pages_are_slices_of_the_sorted_lines_with_their_s3_parts(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loans = [loan_with_interest(session_factory, bank, 3_000_000 + 250_000 * n, n=n) for n in (1, 2, 3)]
    for n, loan in enumerate(loans, start=1):
        for k in range(1, 6):
            due = dt.date(2024, 3 + k, 15)
            repay(session_factory, bank, loan, due, due - dt.timedelta(days=n), 3_000_000 + 250_000 * n)
    with unit_of_work(session_factory) as s:  # enough cash for some of the lines: paid, partly paid and deferred lines
        appropriate(s, pool="subsidy", amount_fen=9_000_000, policy_id="gz-2023", business_date=BD)
    with unit_of_work(session_factory) as s:
        preview = preview_month(s, "2024-08", BD, actor=actors["FM"])
    lines = preview.lines
    assert preview.line_count == 15 and 0 < preview.paid_fen < preview.total_fen
    assert len({ln.deferred_fen for ln in lines}) > 2
    for key in PREVIEW_SORTS:
        for sort in (key, "-" + key):
            ordered = _expected(lines, sort)
            assert list(preview.line_page(0, 100, sort)) == ordered, sort
            for offset, n in ((0, 4), (4, 4), (12, 4), (14, 1), (15, 4), (3, 0)):
                assert list(preview.line_page(offset, n, sort)) == ordered[offset:offset + n], (sort, offset, n)
    assert preview.line_page(0, 7) == preview.first_lines(7)  # the default order is S3's
    assert sum(ln.paid_fen for ln in preview.line_page(0, 100, "-amount")) == preview.paid_fen
    with pytest.raises(DomainError) as refused:
        preview.line_page(0, 5, "borrower")
    assert refused.value.code == "invalid_sort"


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from litestar.testing import TestClient

    from api.app import create_app
    from fund.adapters.db import make_engine, make_session_factory
    from tests.console_support import prepare_demo, sign_in

    demo = prepare_demo(tmp_path_factory.mktemp("paging") / "demo.sqlite3")
    path = tmp_path_factory.mktemp("paging-app") / "copy.sqlite3"
    shutil.copy(demo["url"].removeprefix("sqlite:///"), path)
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    with TestClient(create_app(factory)) as client:
        assert sign_in(client, "t.officer").status_code == 303
        yield client, factory
    engine.dispose()


def _repayments_shown(html: str) -> list[int]:
    table = html[html.index('id="preview-lines"'):]
    table = table[:table.index("</table>")]
    return [int(x) for x in re.findall(r'<tr><td class="num">(\d+)</td>', table)]


def test_the_console_pages_and_sorts_a_preview_on_the_server(console):
    from api.console.controllers.subsidies import PREVIEW_LINES
    from fund.services.common import business_date, institution_by_code
    from fund.services.registry import Actor

    client, factory = console
    with unit_of_work(factory) as s:
        preview = preview_month(s, "2026-10", business_date(s), actor=Actor.of(institution_by_code(s, "FM-GZ")))
    assert preview.line_count > 2 * PREVIEW_LINES
    pages = -(-preview.line_count // PREVIEW_LINES)

    second = client.get("/console/subsidies", params={"month": "2026-10", "sort": "-amount", "page": "2"})
    assert second.status_code == 200
    expected = [ln.repayment_id for ln in preview.line_page(PREVIEW_LINES, PREVIEW_LINES, "-amount")]
    assert _repayments_shown(second.text) == expected
    assert f"第 2 / {pages} 页" in second.text and "page=3" in second.text and "sort=-amount" in second.text
    assert f"{preview.line_count:,}" in second.text  # the tiles count the whole month's lines

    first = client.get("/console/subsidies", params={"month": "2026-10", "sort": "no-such-column"})  # S3 order instead
    assert _repayments_shown(first.text) == [ln.repayment_id for ln in preview.first_lines(PREVIEW_LINES)]
    past_the_end = client.get("/console/subsidies", params={"month": "2026-10", "sort": "loan", "page": str(pages + 5)})
    last = [ln.repayment_id for ln in preview.line_page((pages - 1) * PREVIEW_LINES, PREVIEW_LINES, "loan")]
    assert _repayments_shown(past_the_end.text) == last and f"第 {pages} / {pages} 页" in past_the_end.text

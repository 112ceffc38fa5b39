"""Fee lines (docs/rules.md section 5, S6 with S4) in the API's subsidy preview and run answers: the
preview of a month with fees lists the fee lines (kind, fee, subsidy, capped, paid and deferred
parts, exact fen) and the fee figures beside the interest figures, and they equal the run's answer
that follows; the run's parts are "so far" (a later inflow settling its deferral shows as paid). Both
backends."""

from __future__ import annotations

import datetime as dt

from fund.adapters.db import unit_of_work
from fund.services.ledger import appropriate, check_ledger
from tests.test_subsidy_api import BD, _book, run_through_two_people, sub_api  # noqa: F401  (fixture)

INTEREST = 1_736_201 + 771_274  # the two loans' April lines (tests.test_subsidy_api)
FEE_FIELDS = ("fee_lines", "fee_capped_lines", "fee_computed_fen", "fee_total_fen", "interest_total_fen")


def _fee(kind: str, amount: int, paid_on: str, invoice: str) -> dict:
    return {"kind": kind, "amount_fen": amount, "paid_on": paid_on, "issuer": "穗评估所", "invoice_no": invoice}


def test_preview_lists_the_fee_lines_and_equals_the_run(sub_api):
    api = sub_api
    loans = _book(api)
    loan = loans["BANK1"].id
    url = f"/api/v1/loans/{loan}/fees"
    fees = []
    for body in (_fee("appraisal", 6_000_001, "2024-04-10", "F-1"), _fee("appraisal", 5_000_000, "2024-04-12", "F-2"),
                 _fee("insurance", 4_000_000, "2024-04-20", "F-3")):
        answer = api.post(url, body)
        assert answer.status_code == 201, answer.text
        fees.append(answer.json())
    # the pool holds the interest lines and 5 500 000 of the 7 000 000 fee subsidy: the interest lines
    # take the cash first, then the fee lines by payment date (3 000 000, 2 000 000, then 500 000 of
    # the insurance fee's 2 000 000: 1 500 000 deferred)
    with unit_of_work(api.session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=INTEREST + 5_000_000 + 500_000, policy_id="gz-2023", business_date=BD)
    answer = api.get("/api/v1/subsidy-runs/preview", who="AUD", params={"month": "2024-04"})
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert (preview["lines"], preview["capped_lines"], preview["total_fen"], preview["computed_fen"]) == (
        2, 0, INTEREST + 7_000_000, INTEREST + 3_000_000 + 2_500_000 + 2_000_000)
    assert (preview["paid_fen"], preview["deferred_fen"]) == (INTEREST + 5_500_000, 1_500_000)
    assert {k: preview[k] for k in FEE_FIELDS} == {
        "fee_lines": 3, "fee_capped_lines": 1, "fee_computed_fen": 7_500_000, "fee_total_fen": 7_000_000,
        "interest_total_fen": INTEREST}
    assert sum(i["paid_fen"] for i in preview["items"]) == INTEREST  # every interest line paid in full
    assert [(f["fee_id"], f["loan_id"], f["kind"], f["fee_fen"], f["paid_on"], f["computed_fen"], f["amount_fen"],
             f["capped"], f["paid_fen"], f["deferred_fen"]) for f in preview["fee_items"]] == [
        (fees[0]["id"], loan, "appraisal", 6_000_001, "2024-04-10", 3_000_000, 3_000_000, False, 3_000_000, 0),
        (fees[1]["id"], loan, "appraisal", 5_000_000, "2024-04-12", 2_500_000, 2_000_000, True, 2_000_000, 0),
        (fees[2]["id"], loan, "insurance", 4_000_000, "2024-04-20", 2_000_000, 2_000_000, False, 500_000, 1_500_000)]
    short = api.get("/api/v1/subsidy-runs/preview", who="FM", params={"month": "2024-04", "limit": 1}).json()
    assert (len(short["items"]), [f["fee_id"] for f in short["fee_items"]], short["fee_total_fen"]) == (
        1, [fees[0]["id"]], 7_000_000)  # limit lists fewer lines; the figures cover them all

    run = run_through_two_people(api, "2024-04")
    for name in ("lines", "capped_lines", "total_fen", "computed_fen", "paid_fen", "deferred_fen", *FEE_FIELDS):
        assert run[name] == preview[name], name
    assert run["fee_items"] == preview["fee_items"]  # the same fee lines, the same parts
    assert api.get(f"/api/v1/subsidy-runs/{run['id']}", who="AUD").json()["fee_items"] == preview["fee_items"]
    listed = api.get("/api/v1/subsidy-runs", who="FM", params={"month": "2024-04"}).json()["items"]
    assert [r["fee_items"] for r in listed] == [preview["fee_items"]]
    after = api.get("/api/v1/subsidy-runs/preview", who="FM", params={"month": "2024-04"}).json()
    assert (after["already_run"], after["fee_items"], after["fee_lines"]) == (run["id"], [], 0)

    # an inflow settles the run's deferral (S5): its fee line reads paid so far, the run's figures stay as run
    with unit_of_work(api.session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=1_000_000, policy_id="gz-2023", business_date=BD)
    now = api.get(f"/api/v1/subsidy-runs/{run['id']}", who="FM").json()
    assert (now["paid_fen"], now["deferred_fen"]) == (run["paid_fen"], run["deferred_fen"])
    assert [(f["paid_fen"], f["deferred_fen"]) for f in now["fee_items"]] == [(3_000_000, 0), (2_000_000, 0), (1_500_000, 500_000)]
    with unit_of_work(api.session_factory) as s:
        assert check_ledger(s) == []


def test_a_run_without_fees_answers_no_fee_lines(sub_api):
    api = sub_api
    _book(api)
    run = run_through_two_people(api, "2024-04")
    assert {k: run[k] for k in FEE_FIELDS} == {"fee_lines": 0, "fee_capped_lines": 0, "fee_computed_fen": 0,
                                               "fee_total_fen": 0, "interest_total_fen": INTEREST}
    assert run["fee_items"] == [] and run["total_fen"] == INTEREST

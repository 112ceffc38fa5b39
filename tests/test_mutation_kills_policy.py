"""Survivors of the mutation run over fund/domain/policy.py (docs/mutation.md), killed by pinning
docs/rules.md section 2: a policy file is refused naming the key it breaks (each scheme's ratios
whole bp >= 0 adding up to 10000 with the bank's share; the parameters of the table and of revision
2); the dates it is in force, both included; the shipped policies' figures; the content hash that
names exactly one document."""

from __future__ import annotations

import copy
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fund
from fund.domain import policy as pol
from fund.domain.policy import PolicyError, parse_policy

D = dt.date


def _doc(**changes):
    doc = {
        "id": "t-2026", "name": "test policy", "valid_from": D(2026, 1, 1), "valid_to": D(2026, 12, 31),
        "eligible_ip_kinds": ["invention_patent", "trademark"],
        "schemes": {"50": {"fund": 5000, "bank": 5000}, "5311": {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}},
        "subsidy": {"ratio_bp": 5000, "lpr_markup_bp": 0, "months": 12},
        "appropriation": {"kind": "yearly", "amount_fen": 5_000_000_000},
    }
    doc.update(changes)
    return doc


def _refusal(doc) -> str:
    with pytest.raises(PolicyError) as refused:
        parse_policy(doc)
    assert isinstance(refused.value, ValueError)
    return str(refused.value)


def test_a_minimal_policy_reads_with_the_defaults_of_section_2():
    p = parse_policy(_doc())
    assert (p.id, p.name, p.valid_from, p.valid_to) == ("t-2026", "test policy", D(2026, 1, 1), D(2026, 12, 31))
    assert p.eligible_ip_kinds == ("invention_patent", "trademark")
    assert (p.single_loan_cap_fen, p.borrower_annual_quota_fen, p.bank_annual_cap_bp) == (None, None, None)
    assert (p.claim_overdue_days, p.claim_window_days, p.accepts_claims) == (None, None, False)
    assert p.min_registration_years == 1
    assert (p.fee_subsidy_ratio_bp, p.fee_subsidy_cap_fen, p.bank_suspension_line_bp, p.single_signoff_below_fen) == (None,) * 4
    assert p.subsidy == pol.SubsidyTerms(ratio_bp=5000, lpr_markup_bp=0, months=12, enterprise_annual_cap_fen=None)
    assert (p.appropriation_kind, p.appropriation_fen) == ("yearly", 5_000_000_000)
    assert p.schemes["5311"].ratios_bp == {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}
    assert parse_policy({k: v for k, v in _doc().items() if k != "name"}).name == "t-2026"  # the id names it
    none = parse_policy({k: v for k, v in _doc().items() if k != "appropriation"})
    assert (none.appropriation_kind, none.appropriation_fen) == ("none", 0)
    assert parse_policy(_doc(valid_from="2026-01-01", valid_to="2026-01-01")).valid_to == D(2026, 1, 1)


def test_every_parameter_is_read_under_its_own_key():
    p = parse_policy(_doc(single_loan_cap_fen=1_000_000_000, borrower_annual_quota_fen=2_000_000_000, bank_annual_cap_bp=500,
                          claim_overdue_days=90, claim_window_days=365, min_registration_years=0,
                          fee_subsidy_ratio_bp=5000, fee_subsidy_cap_fen=5_000_000, bank_suspension_line_bp=300,
                          single_signoff_below_fen=1, subsidy={"ratio_bp": 4000, "lpr_markup_bp": 4000, "months": 6,
                                                               "enterprise_annual_cap_fen": 30_000_000}))
    assert (p.single_loan_cap_fen, p.borrower_annual_quota_fen, p.bank_annual_cap_bp) == (1_000_000_000, 2_000_000_000, 500)
    assert (p.claim_overdue_days, p.claim_window_days, p.accepts_claims) == (90, 365, True)
    assert p.min_registration_years == 0
    assert (p.fee_subsidy_ratio_bp, p.fee_subsidy_cap_fen, p.bank_suspension_line_bp, p.single_signoff_below_fen) == (
        5000, 5_000_000, 300, 1)
    assert p.subsidy == pol.SubsidyTerms(ratio_bp=4000, lpr_markup_bp=4000, months=6, enterprise_annual_cap_fen=30_000_000)


@pytest.mark.parametrize(("changes", "message"), [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"id": ""}, "'id' must be a non-empty string of at most 40 characters"),
    ({"id": "x" * 41}, "'id' must be a non-empty string of at most 40 characters"),
    ({"id": 7}, "'id' must be a non-empty string of at most 40 characters"),
    ({"valid_from": "2026-13-01"}, "'valid_from' must be a date (YYYY-MM-DD), got '2026-13-01'"),
    ({"valid_to": dt.datetime(2026, 12, 31, 0, 0)}, "'valid_to' must be a date (YYYY-MM-DD), got datetime.datetime(2026, 12, 31, 0, 0)"),
    ({"valid_to": None}, "'valid_to' must be a date (YYYY-MM-DD), got None"),
    ({"valid_to": D(2025, 12, 31)}, "'valid_to' must not be before 'valid_from'"),
    ({"schemes": {}}, "'schemes' must be a table with at least one scheme"),
    ({"schemes": [1]}, "'schemes' must be a table with at least one scheme"),
    ({"schemes": {"50": 5000}}, "scheme '50' must be a table of party = ratio_bp"),
    ({"schemes": {"50": {"fund": 5000, "lender": 5000}}}, "scheme '50': unknown party 'lender'"),
    ({"schemes": {"50": {"fund": 5000, "bank": 5000.0}}}, "scheme '50': ratio of 'bank' must be an integer >= 0"),
    ({"schemes": {"50": {"fund": True, "bank": 9999}}}, "scheme '50': ratio of 'fund' must be an integer >= 0"),
    ({"schemes": {"50": {"fund": 10001, "bank": -1}}}, "scheme '50': ratio of 'bank' must be an integer >= 0"),
    ({"schemes": {"50": {"fund": 10000}}}, "scheme '50' must include the bank's ratio"),
    ({"schemes": {"50": {"insurer": 5000, "bank": 5000}}}, "scheme '50' must include the fund's ratio"),
    ({"schemes": {"50": {"fund": 5000, "bank": 4999}}}, "scheme '50': ratios add up to 9999, not 10000"),
    ({"schemes": {"50": {"fund": 5000, "bank": 5001}}}, "scheme '50': ratios add up to 10001, not 10000"),
    ({"eligible_ip_kinds": []}, "'eligible_ip_kinds' must be a non-empty list of invention_patent, utility_model, "
                                "design_patent, trademark, geographical_indication, ic_layout"),
    ({"eligible_ip_kinds": "trademark"}, "'eligible_ip_kinds' must be a non-empty list of invention_patent, utility_model, "
                                         "design_patent, trademark, geographical_indication, ic_layout"),
    ({"eligible_ip_kinds": ["trademark", "copyright"]}, "'eligible_ip_kinds' must be a non-empty list of invention_patent, "
                                                        "utility_model, design_patent, trademark, geographical_indication, ic_layout"),
    ({"appropriation": {"kind": "monthly", "amount_fen": 1}}, "'appropriation.kind' must be one of yearly, once, none"),
    ({"appropriation": "yearly"}, "'appropriation.kind' must be one of yearly, once, none"),
    ({"appropriation": {"kind": "once"}}, "missing key 'amount_fen'"),
    ({"appropriation": {"kind": "once", "amount_fen": -1}}, "'amount_fen' must be >= 0, got -1"),
    ({"subsidy": None}, "missing table 'subsidy'"),
    ({"subsidy": {"lpr_markup_bp": 0, "months": 12}}, "missing key 'ratio_bp'"),
    ({"subsidy": {"ratio_bp": 10001, "lpr_markup_bp": 0, "months": 12}}, "'subsidy.ratio_bp' must be at most 10000"),
    ({"subsidy": {"ratio_bp": 5000, "lpr_markup_bp": -1, "months": 12}}, "'lpr_markup_bp' must be >= 0, got -1"),
    ({"subsidy": {"ratio_bp": 5000, "lpr_markup_bp": 0, "months": 0}}, "'months' must be >= 1, got 0"),
    ({"subsidy": {"ratio_bp": "5000", "lpr_markup_bp": 0, "months": 12}}, "'ratio_bp' must be an integer, got '5000'"),
    ({"subsidy": {"ratio_bp": False, "lpr_markup_bp": 0, "months": 12}}, "'ratio_bp' must be an integer, got False"),
    ({"subsidy": {"ratio_bp": 5000, "lpr_markup_bp": 0, "months": 12, "enterprise_annual_cap_fen": -1}},
     "'enterprise_annual_cap_fen' must be >= 0, got -1"),
    ({"claim_overdue_days": 90}, "'claim_overdue_days' and 'claim_window_days' go together"),
    ({"claim_window_days": 365}, "'claim_overdue_days' and 'claim_window_days' go together"),
    ({"claim_overdue_days": -1, "claim_window_days": 365}, "'claim_overdue_days' must be >= 0, got -1"),
    ({"bank_annual_cap_bp": 10001}, "'bank_annual_cap_bp' must be at most 10000"),
    ({"bank_annual_cap_bp": -1}, "'bank_annual_cap_bp' must be >= 0, got -1"),
    ({"fee_subsidy_ratio_bp": 10001}, "'fee_subsidy_ratio_bp' must be at most 10000"),
    ({"fee_subsidy_cap_fen": 100}, "'fee_subsidy_cap_fen' needs 'fee_subsidy_ratio_bp' (without it there are no fee subsidies)"),
    ({"fee_subsidy_ratio_bp": 5000, "fee_subsidy_cap_fen": -1}, "'fee_subsidy_cap_fen' must be >= 0, got -1"),
    ({"bank_suspension_line_bp": 0}, "'bank_suspension_line_bp' must be >= 1, got 0"),
    ({"bank_suspension_line_bp": 10001}, "'bank_suspension_line_bp' must be at most 10000"),
    ({"single_signoff_below_fen": 0}, "'single_signoff_below_fen' must be >= 1, got 0"),
    ({"single_loan_cap_fen": -1}, "'single_loan_cap_fen' must be >= 0, got -1"),
    ({"borrower_annual_quota_fen": 1.5}, "'borrower_annual_quota_fen' must be an integer, got 1.5"),
    ({"min_registration_years": -1}, "'min_registration_years' must be >= 0, got -1"),
])
def test_a_file_that_breaks_a_rule_is_refused_naming_the_key(changes, message):
    assert _refusal(_doc(**changes)) == message


def test_the_edges_that_are_allowed():
    for changes in ({"id": "x" * 40}, {"bank_annual_cap_bp": 10000}, {"bank_annual_cap_bp": 0}, {"fee_subsidy_ratio_bp": 10000},
                    {"bank_suspension_line_bp": 10000}, {"bank_suspension_line_bp": 1}, {"single_signoff_below_fen": 1},
                    {"subsidy": {"ratio_bp": 10000, "lpr_markup_bp": 0, "months": 1}},
                    {"schemes": {"100": {"fund": 0, "bank": 10000}}}, {"appropriation": {"kind": "none", "amount_fen": 0}},
                    {"claim_overdue_days": 0, "claim_window_days": 0}):
        parse_policy(_doc(**changes))
    assert parse_policy(_doc(fee_subsidy_ratio_bp=0)).fee_subsidy_ratio_bp == 0
    assert parse_policy(_doc(sources={"note": "ours"})).id == "t-2026"


def test_a_scheme_names_an_insurer_or_appraiser_when_it_gives_them_a_share():
    p = parse_policy(_doc(schemes={"541": {"fund": 5000, "insurer": 4000, "bank": 1000},
                                   "5311": {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
                                   "50": {"fund": 5000, "insurer": 0, "bank": 5000}}))
    s541, s5311, s50 = p.scheme("541"), p.scheme("5311"), p.scheme("50")
    assert (s541.names_insurer, s541.names_appraiser, s541.ratio("appraiser"), s541.ratio("insurer")) == (True, False, 0, 4000)
    assert (s5311.names_insurer, s5311.names_appraiser) == (True, True)
    assert (s50.names_insurer, s50.names_appraiser) == (False, False)
    with pytest.raises(PolicyError) as refused:
        p.scheme("55")
    assert str(refused.value) == "policy t-2026 has no scheme '55'"


def test_in_force_both_ends_included_and_overlaps():
    p = parse_policy(_doc())
    assert p.in_force(D(2026, 1, 1)) and p.in_force(D(2026, 12, 31)) and p.in_force(D(2026, 6, 1))
    assert not p.in_force(D(2025, 12, 31)) and not p.in_force(D(2027, 1, 1))
    touching = parse_policy(_doc(id="t2", valid_from=D(2026, 12, 31), valid_to=D(2027, 6, 30)))
    after = parse_policy(_doc(id="t3", valid_from=D(2027, 1, 1), valid_to=D(2027, 6, 30)))
    before = parse_policy(_doc(id="t4", valid_from=D(2025, 1, 1), valid_to=D(2025, 12, 31)))
    inside = parse_policy(_doc(id="t5", valid_from=D(2026, 3, 1), valid_to=D(2026, 3, 2)))
    assert p.overlaps(touching) and touching.overlaps(p)
    assert not p.overlaps(after) and not after.overlaps(p)
    assert not p.overlaps(before) and not before.overlaps(p)
    assert p.overlaps(inside) and inside.overlaps(p)
    assert pol.policy_in_force([before, p, after], D(2026, 5, 5)) is p
    assert pol.policy_in_force([before, p, after], D(2027, 1, 1)) is after
    assert pol.policy_in_force([before, p], D(2028, 1, 1)) is None


def test_a_yearly_appropriation_counts_in_each_year_in_force_and_a_one_off_counts_nothing():
    yearly = parse_policy(_doc(valid_from=D(2023, 7, 13), valid_to=D(2028, 1, 18)))
    assert [yearly.yearly_appropriation_fen(y) for y in range(2022, 2030)] == [0] + [5_000_000_000] * 6 + [0]
    once = parse_policy(_doc(appropriation={"kind": "once", "amount_fen": 4_000_000_000}))
    assert once.yearly_appropriation_fen(2026) == 0


def test_the_content_hash_names_the_document_not_its_formatting():
    a = parse_policy(_doc())
    reordered = dict(reversed(list(_doc().items())))
    reordered["schemes"] = {"5311": {"bank": 1000, "appraiser": 1000, "insurer": 3000, "fund": 5000}, "50": {"bank": 5000, "fund": 5000}}
    assert parse_policy(reordered).content_hash == a.content_hash
    assert parse_policy(_doc(valid_from="2026-01-01")).content_hash == a.content_hash  # a date as text is the same date
    changed = copy.deepcopy(_doc())
    changed["schemes"]["50"] = {"fund": 4999, "bank": 5001}
    assert parse_policy(changed).content_hash != a.content_hash
    assert parse_policy(_doc(eligible_ip_kinds=["trademark", "invention_patent"])).content_hash != a.content_hash
    assert parse_policy(_doc(name="another name")).content_hash != a.content_hash
    assert len(a.content_hash) == 64 and int(a.content_hash, 16) >= 0
    # the canonical form: sorted keys, no spaces, dates in ISO form, non-ASCII kept
    assert pol._canonical({"b": [D(2026, 1, 2), {"z": 1, "a": dt.datetime(2026, 1, 2, 3, 4)}], "a": "广州"}) == {
        "a": "广州", "b": ["2026-01-02", {"a": "2026-01-02T03:04:00", "z": 1}]}
    assert list(pol._canonical({"b": 1, "a": 2})) == ["a", "b"]
    text = pol.policy_document_json(parse_policy(_doc(name="广州")))
    assert '"name":"广州"' in text and ", " not in text and ": " not in text
    assert text.index('"appropriation"') < text.index('"eligible_ip_kinds"') < text.index('"valid_to"')
    rebuilt = pol.policy_from_json(text)
    assert rebuilt == parse_policy(_doc(name="广州")) and rebuilt.content_hash == parse_policy(_doc(name="广州")).content_hash


def test_the_shipped_policies_carry_the_figures_of_section_2():
    shipped = pol.shipped_policies()
    assert sorted(shipped) == ["bj-zgc-2024", "gz-2020", "gz-2023"]
    gz23, gz20, bj = shipped["gz-2023"], shipped["gz-2020"], shipped["bj-zgc-2024"]
    assert (gz23.valid_from, gz23.valid_to) == (D(2023, 7, 13), D(2028, 1, 18))
    assert (gz20.valid_from, gz20.valid_to) == (D(2020, 7, 8), D(2023, 7, 12))
    assert (bj.valid_from, bj.valid_to) == (D(2024, 1, 1), D(2024, 12, 31))
    assert (gz23.single_loan_cap_fen, gz23.borrower_annual_quota_fen, gz23.bank_annual_cap_bp) == (1_000_000_000, 2_000_000_000, 500)
    assert (gz23.appropriation_kind, gz23.appropriation_fen) == ("yearly", 5_000_000_000)
    assert (gz20.appropriation_kind, gz20.appropriation_fen) == ("once", 4_000_000_000)
    assert gz20.eligible_ip_kinds == ("invention_patent", "utility_model", "design_patent")
    assert bj.subsidy.lpr_markup_bp == 4000 and bj.subsidy.enterprise_annual_cap_fen == 30_000_000 and not bj.accepts_claims
    assert pol.shipped_policy("gz-2020") is shipped["gz-2020"]
    with pytest.raises(PolicyError) as refused:
        pol.shipped_policy("gz-1999")
    assert str(refused.value) == "no shipped policy 'gz-1999'"


def test_a_policy_file_that_is_not_toml_or_cannot_be_read_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n", encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        pol.load_policy_file(bad)
    assert str(refused.value).startswith(f"{bad}: not valid TOML: ")
    missing = tmp_path / "missing.toml"
    with pytest.raises(PolicyError) as refused:
        pol.load_policy_file(missing)
    assert str(refused.value) == f"{missing}: cannot read: No such file or directory"
    good = tmp_path / "good.toml"
    good.write_text('id = "f-1"\nvalid_from = 2026-01-01\nvalid_to = 2026-12-31\neligible_ip_kinds = ["trademark"]\n'
                    '[schemes.50]\nfund = 5000\nbank = 5000\n[subsidy]\nratio_bp = 5000\nlpr_markup_bp = 0\nmonths = 12\n',
                    encoding="utf-8")
    assert pol.load_policy_file(good).id == "f-1"


_UTF8_POLICY = """\
# 广州市知识产权质押融资风险补偿基金 (a comment outside ASCII, as in the shipped gz- files)
id = "t-2026"
name = "广州市知识产权质押融资风险补偿基金"
valid_from = 2026-01-01
valid_to = 2026-12-31
eligible_ip_kinds = ["invention_patent", "trademark"]

[schemes.50]
fund = 5000
bank = 5000

[subsidy]
ratio_bp = 5000
lpr_markup_bp = 0
months = 12

[appropriation]
kind = "yearly"
amount_fen = 5000000000
"""


def test_a_policy_file_is_read_as_utf8_whatever_the_locale(tmp_path):
    """A policy file is a TOML document, and TOML documents are UTF-8 (TOML 1.0, "Spec"): the same
    file gives the same policy under a locale whose encoding is ASCII (the C locale with neither
    locale coercion nor UTF-8 mode), as under the UTF-8 locale the project runs under."""
    path = tmp_path / "t-2026.toml"
    path.write_bytes(_UTF8_POLICY.encode("utf-8"))
    assert pol.load_policy_file(path).name == "广州市知识产权质押融资风险补偿基金"
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               PYTHONPATH=str(Path(fund.__file__).resolve().parent.parent))
    code = ("import locale, sys; from fund.domain import policy as pol; "
            "print(locale.getpreferredencoding(False)); print(ascii(pol.load_policy_file(sys.argv[1]).name))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                         encoding="ascii", errors="replace", timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    encoding, name = out.stdout.split()
    assert encoding.lower() in {"ansi_x3.4-1968", "ascii", "us-ascii"}  # the locale really is not UTF-8
    assert name == ascii("广州市知识产权质押融资风险补偿基金")

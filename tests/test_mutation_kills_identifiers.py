"""Survivors of the mutation run over fund/domain/identifiers.py (docs/mutation.md), killed by pinning
each refusal of rule I (docs/rules.md section 9) whole: its code, the caller's field, the message
that says exactly what is wrong, and ``extra`` (problem, position, expected, got), which the services
use to tell a mistyped check character from anything else."""

from __future__ import annotations

import pytest

from fund.domain import identifiers as ids
from fund.errors import DomainError

ALLOWED = ("allowed: digits 0-9 and letters ABCDEFGHJKLMNPQRTUWXY; I, O, S, V, Z are never used")


def _refusal(call, *args, **kwargs):
    with pytest.raises(DomainError) as refused:
        call(*args, **kwargs)
    e = refused.value
    return e.code, e.field, str(e), e.extra


def test_a_credit_code_that_is_not_text():
    assert _refusal(ids.validate_uscc, 12, field="owner") == (
        "invalid_uscc", "owner", "credit code must be text, got int", {"problem": "type"})
    assert _refusal(ids.uscc_check_char, None) == (
        "invalid_uscc", "credit_code", "the first 17 characters of the credit code must be text, got NoneType", {"problem": "type"})


def test_a_credit_code_of_the_wrong_length():
    assert _refusal(ids.validate_uscc, "9111 0000") == (
        "invalid_uscc", "credit_code", "credit code must be 18 characters, got 8", {"problem": "length", "got": 8})
    assert _refusal(ids.uscc_check_char, "9111000060003734", field="x") == (
        "invalid_uscc", "x", "the first 17 characters of the credit code must be 17 characters, got 16",
        {"problem": "length", "got": 16})


def test_a_credit_code_character_outside_the_set():
    assert _refusal(ids.validate_uscc, "91350100M000100Y4Z") == (
        "invalid_uscc", "credit_code", f"credit code character 18 is 'Z', which is not allowed ({ALLOWED})",
        {"problem": "character", "position": 18, "got": "Z"})
    assert _refusal(ids.validate_uscc, "I1350100M000100Y4L") == (
        "invalid_uscc", "credit_code", f"credit code character 1 is 'I', which is not allowed ({ALLOWED})",
        {"problem": "character", "position": 1, "got": "I"})
    assert _refusal(ids.uscc_check_char, "9111000060003734O") == (
        "invalid_uscc", "credit_code",
        f"the first 17 characters of the credit code character 17 is 'O', which is not allowed ({ALLOWED})",
        {"problem": "character", "position": 17, "got": "O"})


def test_a_credit_code_with_a_wrong_check_character():
    assert _refusal(ids.validate_uscc, "91110000600037341M", field="credit_code") == (
        "invalid_uscc", "credit_code", "credit code check character (18th) is wrong: expected 'L', got 'M'",
        {"problem": "check_digit", "expected": "L", "got": "M"})


def test_the_credit_code_check_character_of_gb_32100():
    # the check value is (31 - sum(value x 3^(i-1) mod 31) mod 31) mod 31 over the first 17
    assert ids.uscc_check_char("91110000600037341") == "L"
    assert ids.uscc_check_char("91512081MA62K0260") == "E"
    assert ids.uscc_check_char("00000000000000000") == "0"  # a sum of 0 gives 0, not 31
    assert ids.uscc_check_char("10000000000000000") == "Y"  # weight 1: 31 - 1 = 30, the last character
    assert ids.uscc_check_char("01000000000000000") == "W"  # weight 3: 31 - 3 = 28
    assert ids.uscc_check_char("00000000000000001") == "3"  # weight 3^16 mod 31 = 28: 31 - 28 = 3
    assert ids.validate_uscc("10000000000000000Y") == "10000000000000000Y"


def test_a_patent_number_that_is_not_text_or_not_a_patent_kind():
    assert _refusal(ids.normalize_patent_number, 201710601862, "invention_patent") == (
        "invalid_patent_number", "number", "patent number must be text, got int", {"problem": "type"})
    assert _refusal(ids.normalize_patent_number, "201710601862.3", "trademark") == (
        "invalid_ip_kind", "kind", "IP kind must be one of invention_patent, utility_model, design_patent; got 'trademark'",
        {"problem": "kind", "got": "trademark"})
    assert _refusal(ids.normalize_ip_number, "copyright", "1") == (
        "invalid_ip_kind", "kind", "IP kind must be one of invention_patent, utility_model, design_patent, trademark, "
        "geographical_indication, ic_layout; got 'copyright'", {"problem": "kind", "got": "copyright"})


def test_a_patent_number_with_a_misplaced_dot():
    for typed, shown in (("2017106018.623", "2017106018.623"), ("ZL20171060186.2.3", "20171060186.2.3"),
                         ("201710601862.", "201710601862.")):
        assert _refusal(ids.normalize_patent_number, typed, "invention_patent", field="no") == (
            "invalid_patent_number", "no", f"patent number {shown!r}: a '.' may appear only once, just before the check character",
            {"problem": "character"})



def test_a_patent_number_with_two_dots_at_its_end_has_a_misplaced_dot():
    """Rule I2's one '.' stands just before the check character; a second '.' after it (the check
    character typed as '.') is the same misplaced dot, not a wrong check character or a wrong length.
    The first dot of such a text is second-last, so only counting the dots refuses it."""
    for typed in ("2017106018623..", "201710601862..", "CN 95115608X.."):
        shown = typed.removeprefix("CN ")
        assert _refusal(ids.normalize_patent_number, typed, "invention_patent", field="no") == (
            "invalid_patent_number", "no", f"patent number {shown!r}: a '.' may appear only once, just before the check character",
            {"problem": "character"})

def test_a_patent_number_of_the_wrong_length():
    assert _refusal(ids.normalize_patent_number, "CN1234567.8", "invention_patent") == (
        "invalid_patent_number", "number", "patent number must be 12 digits (8 before 2003-10-01) followed by a check "
        "character; got 8 characters in '1234567.8'", {"problem": "length", "got": 8})
    assert _refusal(ids.normalize_patent_number, "", "invention_patent")[3] == {"problem": "length", "got": 0}
    # only one prefix is taken off
    assert _refusal(ids.normalize_patent_number, "CNZL201710601862.3", "invention_patent")[3] == {"problem": "length", "got": 15}


def test_a_patent_number_character_that_is_not_a_digit():
    assert _refusal(ids.normalize_patent_number, "2017106O1862.3", "invention_patent") == (
        "invalid_patent_number", "number", "patent number character 8 is 'O'; the first 12 must be digits 0-9",
        {"problem": "character", "position": 8, "got": "O"})
    assert _refusal(ids.normalize_patent_number, "9511560X.X", "invention_patent") == (
        "invalid_patent_number", "number", "patent number character 8 is 'X'; the first 8 must be digits 0-9",
        {"problem": "character", "position": 8, "got": "X"})
    assert _refusal(ids.normalize_patent_number, "201710601862.A", "invention_patent") == (
        "invalid_patent_number", "number", "patent number check character is 'A'; it must be a digit 0-9 or X",
        {"problem": "character", "position": 13, "got": "A"})


def test_a_patent_number_with_a_wrong_check_digit():
    assert _refusal(ids.normalize_patent_number, "202310123456.7", "utility_model") == (
        "invalid_patent_number", "number", "patent number 202310123456.7 has a wrong check character: expected '6', got '7'",
        {"problem": "check_digit", "expected": "6", "got": "7"})


def test_a_patent_number_whose_type_digit_is_no_patent_type_or_another_kind():
    digits = "202141234567"
    number = f"{digits}.{ids.patent_check_char(digits)}"
    assert _refusal(ids.normalize_patent_number, number, "invention_patent") == (
        "invalid_patent_number", "number", f"patent number {number} has type digit 4, which is no patent type "
        "(1 or 8 invention_patent, 2 or 9 utility_model, 3 design_patent)", {"problem": "patent_type", "got": "4"})
    assert _refusal(ids.normalize_patent_number, "201710601862.3", "design_patent") == (
        "invalid_patent_number", "number", "patent number 201710601862.3 has type digit 1 (invention_patent), "
        "but the declared kind is design_patent", {"problem": "kind", "expected": "design_patent", "got": "invention_patent"})


def test_the_patent_check_digit_of_rule_i2():
    # the weights 2, 3, ..., 9, 2, 3, 4, 5 and the sum mod 11, X for 10
    assert ids.patent_check_char("201710601862") == "3"
    assert ids.patent_check_char("95115608") == "X"
    assert ids.patent_check_char("000000000000") == "0"
    assert ids.patent_check_char("100000000000") == "2"
    assert ids.patent_check_char("000000000001") == "5"
    assert ids.patent_check_char("00000001") == "9"
    for bad in ("2017106018", "20171060186X", 201710601862, "２0171060"):
        with pytest.raises(ValueError) as refused:
            ids.patent_check_char(bad)
        assert str(refused.value) == f"digits must be 12 or 8 ASCII digits, got {bad!r}"


def test_a_trademark_number_is_one_to_twelve_digits():
    assert _refusal(ids.normalize_trademark_number, "1234567890123") == (
        "invalid_trademark_number", "number", "trademark number must be 1 to 12 digits, got 13 characters",
        {"problem": "length", "got": 13})
    assert _refusal(ids.normalize_trademark_number, "12A4", field="tm") == (
        "invalid_trademark_number", "tm", "trademark number character 3 is 'A'; only digits 0-9 are allowed",
        {"problem": "character", "position": 3, "got": "A"})
    assert _refusal(ids.normalize_trademark_number, 5) == (
        "invalid_trademark_number", "number", "trademark number must be text, got int", {"problem": "type"})


def test_other_ip_numbers_are_trimmed_printable_text_up_to_64_characters():
    assert _refusal(ids.normalize_ip_number, "ic_layout", 5, field="n") == (
        "invalid_ip_number", "n", "IP number must be text, got int", {"problem": "type"})
    assert _refusal(ids.normalize_ip_number, "ic_layout", " " + "x" * 65) == (
        "invalid_ip_number", "number", "IP number must be 1 to 64 characters after trimming, got 65", {"problem": "length", "got": 65})
    assert _refusal(ids.normalize_ip_number, "geographical_indication", "AB\x00C") == (
        "invalid_ip_number", "number", "IP number character 3 ('\\x00') is not printable",
        {"problem": "character", "position": 3, "got": "\x00"})
    assert ids.normalize_ip_number("ic_layout", "\t x \n") == "x"


def test_the_callers_field_reaches_every_refusal():
    assert _refusal(ids.normalize_ip_number, "invention_patent", "2017", field="assets[2].number")[1] == "assets[2].number"
    assert _refusal(ids.normalize_ip_number, "trademark", "", field="assets[3].number")[1] == "assets[3].number"
    assert _refusal(ids.normalize_ip_number, "ic_layout", "", field="assets[4].number")[1] == "assets[4].number"
    assert ids.normalize_ip_number("utility_model", "ZL 97234567." + ids.patent_check_char("97234567"), field="f") == (
        "97234567." + ids.patent_check_char("97234567"))


def test_a_patent_number_using_every_digit_has_its_check_digit():
    # I2 with every digit 0-9 among the 12 (weights 2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5, by hand):
    # 2*2 + 0*3 + 1*4 + 7*5 + 1*6 + 8*7 + 5*8 + 9*9 + 6*2 + 0*3 + 4*4 + 3*5 = 269 = 24*11 + 5
    assert ids.patent_check_char("201718596043") == "5"
    assert ids.normalize_patent_number("201718596043.5", "invention_patent") == "201718596043.5"

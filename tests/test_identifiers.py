"""Rule I (RULES section 9): credit codes, patent, trademark and other IP numbers."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fund.domain.identifiers as identifiers
from fund.domain.identifiers import (
    IP_KINDS,
    normalize_ip_number,
    normalize_patent_number,
    normalize_trademark_number,
    patent_check_char,
    uscc_check_char,
    validate_uscc,
)
from fund.errors import DomainError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # RULES I1, written out here on purpose
DIGITS = "0123456789"


def reference_uscc_check(body: str) -> str:
    """RULES I1 word for word: weights 3^(i-1) mod 31 for i = 1..17, check = (31 - sum mod 31) mod 31."""
    total = 0
    for i in range(1, 18):
        total += ALPHABET.index(body[i - 1]) * (3 ** (i - 1) % 31)
    return ALPHABET[(31 - total % 31) % 31]


def reference_patent_check(digits: str) -> str:
    """RULES I2 word for word: 12 digits weights 2..9,2..5; 8 digits weights 2..9; mod 11, 10 is X."""
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5][: len(digits)]
    remainder = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return "X" if remainder == 10 else str(remainder)


def raises_domain(code: str, field: str | None = None):
    """Context manager for a DomainError with the given code (and field, when given)."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(DomainError)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            assert self.info.value.code == code, self.info.value.code
            if field is not None:
                assert self.info.value.field == field
            return handled

    return _Check()


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(identifiers, optionflags=doctest.ELLIPSIS)
    assert attempted > 0
    assert failures == 0


# --------------------------------------------------------------------------------------- I1. USCC


@pytest.mark.parametrize("code", ["91110000600037341L", "91512081MA62K0260E"])
def test_uscc_rules_valid_vectors(code):
    assert validate_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]


def test_uscc_normal_form_drops_whitespace_and_upper_cases():
    assert validate_uscc(" 9151 2081 ma62 k026 0e\t") == "91512081MA62K0260E"
    assert validate_uscc("91110000600037341l") == "91110000600037341L"
    assert validate_uscc("9111\u30000000600037341L") == "91110000600037341L"  # ideographic space


def test_uscc_wrong_check_names_expected_and_got():
    with raises_domain("invalid_uscc", field="credit_code") as info:
        validate_uscc("91110000600037341M")
    err = info.value
    assert err.extra["problem"] == "check_digit"
    assert (err.extra["expected"], err.extra["got"]) == ("L", "M")
    assert "expected 'L'" in err.message and "got 'M'" in err.message


def test_uscc_character_set_names_position():
    with raises_domain("invalid_uscc") as info:
        validate_uscc("91350100M000100Y4Z")
    err = info.value
    assert err.extra["problem"] == "character"
    assert err.extra["position"] == 18 and err.extra["got"] == "Z"
    assert "character 18" in err.message and "'Z'" in err.message


@pytest.mark.parametrize("bad_letter", "IOSVZ")
def test_uscc_letters_never_used_are_refused(bad_letter):
    body = "91110000600037341"
    code = body[:8] + bad_letter + body[9:] + "L"
    with raises_domain("invalid_uscc") as info:
        validate_uscc(code)
    assert info.value.extra["position"] == 9


def test_uscc_no_unicode_case_folding_into_ascii():
    # "ﬀ".upper() == "FF": a ligature must not sneak in as two valid letters.
    valid = "911100006000373KFF"
    assert validate_uscc(valid) == valid
    assert ("911100006000373K\ufb00".upper()) == valid  # what str.upper would have accepted
    with raises_domain("invalid_uscc"):
        validate_uscc("911100006000373K\ufb00")
    with raises_domain("invalid_uscc"):
        validate_uscc("９1110000600037341L")  # full-width digit nine


@pytest.mark.parametrize("code", ["", "91110000600037341", "91110000600037341LL", "9111000060003734"])
def test_uscc_length(code):
    with raises_domain("invalid_uscc") as info:
        validate_uscc(code)
    assert info.value.extra["problem"] == "length"
    assert f"got {len(code)}" in info.value.message


def test_uscc_not_text():
    with raises_domain("invalid_uscc"):
        validate_uscc(91110000600037341)  # type: ignore[arg-type]


def test_uscc_field_name_from_caller():
    with raises_domain("invalid_uscc", field="owner_credit_code"):
        validate_uscc("91110000600037341M", field="owner_credit_code")


def test_uscc_pilot_code_accepted_only_for_a_failed_check():
    assert validate_uscc("91110000600037341m", allow_failed_check=True) == "91110000600037341M"
    assert validate_uscc("91110000600037341L", allow_failed_check=True) == "91110000600037341L"
    with raises_domain("invalid_uscc") as info:
        validate_uscc("91350100M000100Y4Z", allow_failed_check=True)
    assert info.value.extra["problem"] == "character"
    with raises_domain("invalid_uscc") as info:
        validate_uscc("91110000600037341", allow_failed_check=True)
    assert info.value.extra["problem"] == "length"


def test_uscc_check_char_input_checked():
    with raises_domain("invalid_uscc"):
        uscc_check_char("9111000060003734")
    with raises_domain("invalid_uscc"):
        uscc_check_char("9111000060003734O")


uscc_bodies = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


@settings(max_examples=300, deadline=None)
@given(body=uscc_bodies)
def test_uscc_round_trip(body):
    check = uscc_check_char(body)
    assert check == reference_uscc_check(body)
    assert validate_uscc(body + check) == body + check
    assert validate_uscc((body + check).lower()) == body + check


@settings(max_examples=300, deadline=None)
@given(body=uscc_bodies, position=st.integers(0, 17), data=st.data())
def test_uscc_any_single_substitution_is_refused(body, position, data):
    valid = body + reference_uscc_check(body)
    replacement = data.draw(st.sampled_from([c for c in ALPHABET if c != valid[position]]))
    changed = valid[:position] + replacement + valid[position + 1 :]
    with raises_domain("invalid_uscc") as info:
        validate_uscc(changed)
    # Weights are non-zero mod the prime 31, so the check always catches it.
    assert info.value.extra["problem"] == "check_digit"
    # ... and the pilot path accepts exactly that.
    assert validate_uscc(changed, allow_failed_check=True) == changed


@settings(max_examples=200, deadline=None)
@given(code=st.text(alphabet=ALPHABET, min_size=18, max_size=18))
def test_uscc_valid_exactly_when_reference_check_matches(code):
    if code[17] == reference_uscc_check(code[:17]):
        assert validate_uscc(code) == code
    else:
        with raises_domain("invalid_uscc"):
            validate_uscc(code)


# ------------------------------------------------------------------------------------ I2. patents


@pytest.mark.parametrize(
    "number, kind",
    [
        ("201710601862.3", "invention_patent"),
        ("201310699744.2", "invention_patent"),
        ("95115608.X", "invention_patent"),
    ],
)
def test_patent_rules_valid_vectors(number, kind):
    assert normalize_patent_number(number, kind) == number
    digits, check = number.split(".")
    assert patent_check_char(digits) == check == reference_patent_check(digits)


def test_patent_rules_invalid_vector():
    with raises_domain("invalid_patent_number", field="number") as info:
        normalize_patent_number("202310123456.7", "utility_model")
    err = info.value
    assert err.extra["problem"] == "check_digit"
    assert (err.extra["expected"], err.extra["got"]) == (reference_patent_check("202310123456"), "7")
    assert "expected '6'" in err.message and "got '7'" in err.message


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("CN201710601862.3", "201710601862.3"),
        ("ZL201710601862.3", "201710601862.3"),
        ("zl 2017 1 0601862.3", "201710601862.3"),
        ("CN 2017106018623", "201710601862.3"),
        (" 201310699744 . 2 ", "201310699744.2"),
        ("cn95115608x", "95115608.X"),
        ("ZL 95115608.x", "95115608.X"),
    ],
)
def test_patent_prefixes_spaces_and_dot_give_the_stored_form(typed, stored):
    assert normalize_patent_number(typed, "invention_patent") == stored


@pytest.mark.parametrize(
    "typed",
    [
        "CNZL201710601862.3",  # one prefix only
        "201710601862",  # check character missing
        "20171060186.2.3",
        "2017106018.623",  # dot not just before the check
        "201710601862.A",
        "2017106O1862.3",  # letter O for zero
        "20171060186２.3",  # full-width digit
        "1234567.8",
        "",
        "CN",
    ],
)
def test_patent_malformed(typed):
    with raises_domain("invalid_patent_number"):
        normalize_patent_number(typed, "invention_patent")


def _new_patent(year: int, type_digit: str, serial: int) -> str:
    digits = f"{year:04d}{type_digit}{serial:07d}"
    return f"{digits}.{reference_patent_check(digits)}"


@pytest.mark.parametrize(
    "type_digit, kind",
    [("1", "invention_patent"), ("2", "utility_model"), ("3", "design_patent"), ("8", "invention_patent"), ("9", "utility_model")],
)
def test_patent_type_digit_must_match_kind(type_digit, kind):
    number = _new_patent(2021, type_digit, 1234567)
    assert normalize_patent_number(number, kind) == number
    for other in {"invention_patent", "utility_model", "design_patent"} - {kind}:
        with raises_domain("invalid_patent_number") as info:
            normalize_patent_number(number, other)
        assert info.value.extra["problem"] == "kind"
        assert kind in info.value.message and other in info.value.message


@pytest.mark.parametrize("type_digit", "04567")
def test_patent_unknown_type_digit(type_digit):
    with raises_domain("invalid_patent_number") as info:
        normalize_patent_number(_new_patent(2021, type_digit, 1), "invention_patent")
    assert info.value.extra["problem"] == "patent_type"


def test_old_patent_type_digit_is_the_third():
    utility = "97" + "2" + "34567"
    number = f"{utility}.{reference_patent_check(utility)}"
    assert normalize_patent_number(number, "utility_model") == number
    with raises_domain("invalid_patent_number") as info:
        normalize_patent_number(number, "invention_patent")
    assert info.value.extra["problem"] == "kind"
    with raises_domain("invalid_patent_number"):
        normalize_patent_number("95115608.X", "design_patent")


def test_patent_kind_must_be_a_patent_kind():
    with raises_domain("invalid_ip_kind", field="kind"):
        normalize_patent_number("201710601862.3", "trademark")


def test_patent_check_char_input_checked():
    for bad in ["2017106018", "20171060186X", "２01710601862"]:
        with pytest.raises(ValueError):
            patent_check_char(bad)


new_patents = st.builds(
    _new_patent,
    year=st.integers(0, 9999),
    type_digit=st.sampled_from("12389"),
    serial=st.integers(0, 9_999_999),
)


@settings(max_examples=300, deadline=None)
@given(number=new_patents)
def test_patent_round_trip(number):
    kind = identifiers.PATENT_TYPE_KINDS[number[4]]
    assert normalize_patent_number(number, kind) == number
    assert normalize_patent_number("ZL" + number.replace(".", ""), kind) == number


@settings(max_examples=300, deadline=None)
@given(number=new_patents, position=st.sampled_from([i for i in range(14) if i != 12]), data=st.data())
def test_patent_any_single_substitution_is_refused(number, position, data):
    kind = identifiers.PATENT_TYPE_KINDS[number[4]]
    choices = "0123456789X" if position == 13 else DIGITS
    replacement = data.draw(st.sampled_from([c for c in choices if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    with raises_domain("invalid_patent_number") as info:
        normalize_patent_number(changed, kind)
    # Every weight is 2..9 and every digit change is 1..9, both below the prime 11: the sum changes.
    assert info.value.extra["problem"] == "check_digit"


def test_patent_single_substitution_exhaustively_on_the_rules_vectors():
    for number in ["201710601862.3", "201310699744.2", "95115608.X"]:
        for position, original in enumerate(number):
            if original == ".":
                continue
            choices = "0123456789X" if position == len(number) - 1 else DIGITS
            for replacement in choices.replace(original, ""):
                changed = number[:position] + replacement + number[position + 1 :]
                with raises_domain("invalid_patent_number") as info:
                    normalize_patent_number(changed, "invention_patent")
                assert info.value.extra["problem"] == "check_digit", changed


# ------------------------------------------------------------------------- I3. trademarks, others


def test_trademark_numbers():
    assert normalize_trademark_number(" 1234 5678 ") == "12345678"
    assert normalize_trademark_number("0") == "0"
    assert normalize_trademark_number("123456789012") == "123456789012"
    for bad, problem in [("", "length"), ("1234567890123", "length"), ("12A4", "character"), ("１２", "character")]:
        with raises_domain("invalid_trademark_number", field="tm_no") as info:
            normalize_trademark_number(bad, field="tm_no")
        assert info.value.extra["problem"] == problem


def test_ip_number_dispatch():
    assert normalize_ip_number("invention_patent", "CN 201710601862.3") == "201710601862.3"
    assert normalize_ip_number("utility_model", _new_patent(2020, "2", 7)) == _new_patent(2020, "2", 7)
    assert normalize_ip_number("design_patent", _new_patent(2020, "3", 7)) == _new_patent(2020, "3", 7)
    assert normalize_ip_number("trademark", "4 567 890") == "4567890"
    with raises_domain("invalid_patent_number"):
        normalize_ip_number("design_patent", "201710601862.3")
    with raises_domain("invalid_trademark_number"):
        normalize_ip_number("trademark", "201710601862.3")
    with raises_domain("invalid_ip_kind", field="kind"):
        normalize_ip_number("copyright", "123")


@pytest.mark.parametrize("kind", ["geographical_indication", "ic_layout"])
def test_other_ip_numbers(kind):
    assert normalize_ip_number(kind, "  AGI 2008-01 ") == "AGI 2008-01"
    assert normalize_ip_number(kind, "x" * 64) == "x" * 64
    for bad, problem in [("", "length"), ("   ", "length"), ("x" * 65, "length"), ("AB\x00C", "character"), ("A\tB", "character")]:
        with raises_domain("invalid_ip_number", field="number") as info:
            normalize_ip_number(kind, bad)
        assert info.value.extra["problem"] == problem
    with raises_domain("invalid_ip_number"):
        normalize_ip_number(kind, None)  # type: ignore[arg-type]


def test_every_ip_kind_is_dispatched():
    assert set(IP_KINDS) == {
        "invention_patent",
        "utility_model",
        "design_patent",
        "trademark",
        "geographical_indication",
        "ic_layout",
    }

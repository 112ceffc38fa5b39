"""The one helper of each kind that issue 10 asked for: keyset paging, the institution look-up, the
progress bar, the machine-info reader, the shipped policies."""

from __future__ import annotations

import doctest
import io

import pytest
from rich.console import Console

import fund.adapters.machine as machine
import fund.services.paging as paging
from fund.adapters.db import unit_of_work
from fund.domain.policy import PolicyError, shipped_policies, shipped_policy
from fund.errors import DomainError
from fund.services.common import add_institution, institution_codes


def test_doctests_pass():
    for module in (machine, paging):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_keyset_page_walks_every_row_once():
    rows = list(range(1, 12))

    def fetch_after(after_id):
        return lambda n: [r for r in rows if r > after_id][:n]

    seen, cursor = [], 0
    while True:
        page = paging.keyset_page(fetch_after(cursor), 4, key=lambda r: r)
        seen.extend(page.items)
        if page.next_after_id is None:
            break
        cursor = page.next_after_id
    assert seen == rows
    assert paging.keyset_page(lambda n: [], 4).items == []
    assert paging.keyset_page(lambda n: [1, 2, 3, 4][:n], 4, key=lambda r: r).next_after_id is None  # exactly full


@pytest.mark.parametrize("bad", [-1, True, "3", 1.5])
def test_after_id_must_be_a_non_negative_integer(bad):
    with pytest.raises(DomainError) as refused:
        paging.check_after_id(bad)
    assert refused.value.code == "invalid_after_id"


def test_institution_codes_by_id(session_factory):
    with unit_of_work(session_factory) as session:
        a = add_institution(session, "BANK-A", "A", "bank").id
        b = add_institution(session, "INS-B", "B", "insurer").id
        assert institution_codes(session, [a, None]) == {a: "BANK-A"}
        assert institution_codes(session, [None]) == {}
        assert institution_codes(session) == {a: "BANK-A", b: "INS-B"}


def test_progress_bar_draws_from_the_first_report_only(monkeypatch):
    import fund.cli.common as common

    out = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=out, force_terminal=True, width=80))
    with common.progress_bar("work") as update:
        assert out.getvalue() == ""  # nothing drawn before the work reports
        update("stage", 1, 2)
        update("stage", 2, 2)
    assert "work: stage" in out.getvalue()
    quiet = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=quiet, force_terminal=False))
    with common.progress_bar("work") as update:
        update("stage", 1, 1)
    assert quiet.getvalue() == ""  # not a terminal: no bar


def test_machine_info_names_the_libraries_asked_for():
    info = machine.machine_info("sqlite", "sqlalchemy", "no-such-library-here")
    assert {"cpu", "logical_cores", "memory", "os", "python", "sqlite", "sqlalchemy"} <= set(info)
    assert info["no-such-library-here"] == "not installed"


def test_shipped_policies_by_id():
    policies = shipped_policies()
    assert {"gz-2020", "gz-2023"} <= set(policies)
    assert shipped_policy("gz-2023") is policies["gz-2023"]
    with pytest.raises(PolicyError):
        shipped_policy("nowhere-1999")

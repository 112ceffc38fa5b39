"""The vocabularies are defined once (fund/domain/vocabulary.py): the rules, the schemas and the
OpenAPI all carry exactly its keys, as the same strings."""

from __future__ import annotations

import doctest
import typing

from fund.domain import claim, policy, registry, status, vocabulary
from schemas import claims as claim_schemas
from schemas import loans as loan_schemas


def test_doctests_pass():
    result = doctest.testmod(vocabulary)
    assert result.attempted > 0 and result.failed == 0


def test_the_rules_take_their_keys_from_the_vocabulary():
    assert policy.IP_KINDS == vocabulary.values(vocabulary.IpKind)
    assert registry.SECTORS == vocabulary.values(vocabulary.Sector)
    assert registry.LEGAL_STATUSES == vocabulary.values(vocabulary.LegalStatus)
    assert status.STATUSES == vocabulary.values(vocabulary.LoanStatus)
    assert claim.STATUSES == vocabulary.values(vocabulary.ClaimStatus)
    assert set(status.LIVE_STATUSES) | set(status.RELEASED_STATUSES) < set(status.STATUSES)
    assert set(claim.LIVE_STATUSES) | set(claim.DECIDED_STATUSES) < set(claim.STATUSES)
    # every status a step reaches is a claim status, every loan move a loan event
    assert {s.to_status for s in claim.STEPS.values()} <= set(claim.STATUSES)
    assert {s.loan_event for s in claim.STEPS.values()} - {None} <= set(status.EVENTS)


def test_the_schemas_accept_exactly_the_vocabulary():
    pairs = [
        (loan_schemas.IpKind, vocabulary.IpKind), (loan_schemas.Sector, vocabulary.Sector),
        (loan_schemas.LegalStatus, vocabulary.LegalStatus), (loan_schemas.LoanStatus, vocabulary.LoanStatus),
        (loan_schemas.CoverageValue, vocabulary.Coverage), (claim_schemas.ClaimStatus, vocabulary.ClaimStatus),
    ]
    for literal, enum in pairs:
        assert typing.get_args(literal) == tuple(m.value for m in enum)
        assert all(type(key) is str for key in typing.get_args(literal))  # plain strings, as before


def _enums(node, found):
    if isinstance(node, dict):
        if "enum" in node:
            found.add(tuple(node["enum"]))
        for value in node.values():
            _enums(value, found)
    elif isinstance(node, list):
        for value in node:
            _enums(value, found)
    return found


def test_the_openapi_lists_the_same_strings(session_factory):
    from api.app import create_app

    document = create_app(session_factory).openapi_schema.to_schema()
    enums = _enums(document, set())
    for enum in (vocabulary.IpKind, vocabulary.Sector, vocabulary.LegalStatus, vocabulary.LoanStatus, vocabulary.ClaimStatus):
        assert vocabulary.values(enum) in enums, enum.__name__

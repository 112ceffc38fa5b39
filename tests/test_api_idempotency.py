"""Idempotency-Key on every POST, on SQLite and PostgreSQL: replay, body mismatch (422), a request
still running (409), concurrent requests with one key (exactly one loan), scope per institution,
retention, takeover of a crashed run, release after an unexpected failure."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from api.controllers import loans as loans_controller
from fund.adapters.db import unit_of_work
from fund.adapters.models.api import IdempotencyKey
from fund.errors import Conflict, DomainError
from fund.services.idempotency import Claim, StoredAnswer, claim_key, complete, purge_expired
from tests.test_api_support import api, loan_body, new_key, problem_of  # noqa: F401  (fixture)

UTC = dt.timezone.utc


def test_same_key_same_body_replays_the_first_answer(api):
    body, key = loan_body(), new_key()
    first = api.post("/api/v1/loans", body, key=key)
    again = api.post("/api/v1/loans", body, key=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.loan_count() == 1
    # Key order and spacing do not make another body.
    reordered = dict(reversed(list(body.items())))
    assert api.post("/api/v1/loans", reordered, key=key).content == first.content
    # The key is kept at least 24 hours.
    with unit_of_work(api.session_factory) as session:
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
        assert row.expires_at - row.started_at >= dt.timedelta(hours=24)


def test_same_key_other_body_or_endpoint_is_422(api):
    body, key = loan_body(), new_key()
    assert api.post("/api/v1/loans", body, key=key).status_code == 201
    other = api.post("/api/v1/loans", {**body, "contract_no": body["contract_no"] + "-b"}, key=key)
    assert other.status_code == 422
    assert (problem_of(other)["code"], problem_of(other)["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    elsewhere = api.post("/api/v1/loans/batch", {"items": [body]}, key=key)
    assert elsewhere.status_code == 422 and problem_of(elsewhere)["code"] == "idempotency_key_reused"
    assert api.loan_count() == 1


def test_a_refusal_is_replayed_too(api):
    body = loan_body()
    assert api.post("/api/v1/loans", body).status_code == 201
    key = new_key()
    duplicate = api.post("/api/v1/loans", body, key=key)
    assert duplicate.status_code == 409 and problem_of(duplicate)["code"] == "duplicate_contract"
    replay = api.post("/api/v1/loans", body, key=key)
    assert replay.content == duplicate.content and replay.headers["idempotent-replayed"] == "true"


def test_keys_are_scoped_to_the_institution(api):
    key = new_key()
    mine, theirs = loan_body(), loan_body()
    assert api.post("/api/v1/loans", mine, key=key, who="BANK1").status_code == 201
    answer = api.post("/api/v1/loans", theirs, key=key, who="BANK2")
    assert answer.status_code == 201 and answer.json()["bank_code"] == "BANK2"
    assert api.loan_count() == 2


def test_invalid_request_is_not_remembered(api):
    """A body refused by validation never ran: the same key can then carry the corrected body."""
    key, body = new_key(), loan_body()
    broken = api.post("/api/v1/loans", {**body, "principal_fen": "many"}, key=key)
    assert broken.status_code == 422 and problem_of(broken)["code"] == "validation_error"
    assert api.post("/api/v1/loans", body, key=key).status_code == 201


def test_missing_or_bad_key_header(api):
    body = loan_body()
    missing = api.client.post("/api/v1/loans", json=body, headers=api.headers("BANK1"))
    assert missing.status_code == 422 and problem_of(missing)["field"] == "Idempotency-Key"
    for bad in ("x" * 256, "with space", "ключ".encode()):
        answer = api.client.post("/api/v1/loans", json=body, headers={**api.headers("BANK1"), "Idempotency-Key": bad})
        assert answer.status_code == 422 and problem_of(answer)["field"] == "Idempotency-Key", bad
    assert api.loan_count() == 0


def test_first_request_still_running_is_409(api, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real = loans_controller._register

    def slow(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(loans_controller, "_register", slow)
    body, key = loan_body(), new_key()
    answers = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", api.post("/api/v1/loans", body, key=key)))
    first.start()
    try:
        assert started.wait(30)
        running = api.post("/api/v1/loans", body, key=key)
        assert running.status_code == 409 and problem_of(running)["code"] == "idempotency_key_in_use"
    finally:
        release.set()
        first.join(30)
    assert answers["first"].status_code == 201
    replay = api.post("/api/v1/loans", body, key=key)
    assert replay.content == answers["first"].content
    assert api.loan_count() == 1


def test_concurrent_requests_with_one_key_make_one_loan(api):
    body, key, n = loan_body(), new_key(), 8
    barrier = threading.Barrier(n)
    answers = []

    def send():
        barrier.wait()
        answers.append(api.post("/api/v1/loans", body, key=key))

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == n
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    assert all(problem_of(a)["code"] == "idempotency_key_in_use" for a in answers if a.status_code == 409)
    assert len({a.content for a in answers if a.status_code == 201}) == 1
    assert api.loan_count() == 1


def test_unexpected_failure_releases_the_key(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    body, key = loan_body(), new_key()
    monkeypatch.setattr(loans_controller, "_register", broken)
    failed = api.post("/api/v1/loans", body, key=key)
    assert failed.status_code == 500 and problem_of(failed)["code"] == "internal_error"
    assert "disk" not in failed.text
    monkeypatch.undo()
    assert api.post("/api/v1/loans", body, key=key).status_code == 201
    assert api.loan_count() == 1


# The service underneath: retention, takeover of a crashed run, purge.

NOW = dt.datetime(2026, 10, 31, 12, 0, tzinfo=UTC)


def _claim(api, key, fingerprint, now, **kw):
    with unit_of_work(api.session_factory) as session:
        return claim_key(session, api.actors["BANK1"].institution_id, key, fingerprint, now=now, **kw)


def test_expired_key_can_be_used_again(api):
    ttl = dt.timedelta(hours=24)
    first = _claim(api, "k", "a" * 64, NOW, ttl=ttl)
    with unit_of_work(api.session_factory) as session:
        complete(session, first, StoredAnswer(201, "application/json", "{}"))
    with pytest.raises(DomainError, match="another request"):
        _claim(api, "k", "b" * 64, NOW + ttl - dt.timedelta(seconds=1), ttl=ttl)
    assert isinstance(_claim(api, "k", "a" * 64, NOW + ttl - dt.timedelta(seconds=1), ttl=ttl), StoredAnswer)
    again = _claim(api, "k", "b" * 64, NOW + ttl, ttl=ttl)
    assert isinstance(again, Claim) and again.record_id == first.record_id
    with pytest.raises(ValueError, match="at least"):
        _claim(api, "k2", "a" * 64, NOW, ttl=dt.timedelta(hours=23))


def test_a_crashed_run_is_taken_over_and_cannot_complete(api):
    stale = dt.timedelta(minutes=5)
    crashed = _claim(api, "k", "a" * 64, NOW, stale_after=stale)
    with pytest.raises(Conflict, match="still running"):
        _claim(api, "k", "a" * 64, NOW + stale - dt.timedelta(seconds=1), stale_after=stale)
    taker = _claim(api, "k", "a" * 64, NOW + stale, stale_after=stale)
    assert isinstance(taker, Claim) and taker.attempt != crashed.attempt
    with pytest.raises(Conflict), unit_of_work(api.session_factory) as session:
        complete(session, crashed, StoredAnswer(201, "application/json", '{"late": true}'))
    with unit_of_work(api.session_factory) as session:
        complete(session, taker, StoredAnswer(201, "application/json", '{"id": 1}'))
    assert _claim(api, "k", "a" * 64, NOW + stale).body == '{"id": 1}'


def test_purge_deletes_only_expired_keys(api):
    ttl = dt.timedelta(hours=24)
    _claim(api, "old", "a" * 64, NOW - ttl - dt.timedelta(seconds=1), ttl=ttl)
    _claim(api, "new", "a" * 64, NOW, ttl=ttl)
    with unit_of_work(api.session_factory) as session:
        assert purge_expired(session, now=NOW) == 1
        assert list(session.scalars(select(IdempotencyKey.key))) == ["new"]

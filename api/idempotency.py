"""The ``Idempotency-Key`` of every POST, over :mod:`fund.services.idempotency`.

A POST handler declares ``idempotency_key: IdempotencyKeyHeader`` and hands its work to
:func:`run_idempotent`; the work gets the session of one transaction and returns
``(status, response model)``. The key is claimed in its own committed transaction first; the work
and its stored answer commit together. The same key with the same body replays the first answer
(with ``Idempotent-Replayed: true``), with another body is 422, while the first still runs is 409.
While the work runs, a heartbeat keeps the claim alive; a claim whose process died is taken over by a
retry within seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Annotated

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.problems import domain_problem, problem_response
from fund.adapters.db import unit_of_work
from fund.services import audit
from fund.errors import DomainError
from fund.services.idempotency import (
    Claim,
    StoredAnswer,
    claim_key,
    complete,
    keep_alive,
    purge_expired,
    release,
    request_fingerprint,
)
from fund.services.registry import Actor
from fund.settings import get_settings
from schemas.problems import PROBLEM_MEDIA_TYPE

log = logging.getLogger("ipfund.api")
REPLAYED_HEADER = "Idempotent-Replayed"
PURGE_EVERY_SECONDS = 600
# A run in progress refreshes its key's heartbeat this often; a key silent for STALE_AFTER belonged to a
# process that died, and a retry takes it over (so a retry after a crash succeeds within ~6 seconds).
HEARTBEAT_EVERY_SECONDS = 2.0
STALE_AFTER = dt.timedelta(seconds=6)

IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description=(
            "Required on every POST: 1..255 printable ASCII characters without spaces (a UUID is a good choice), "
            "scoped to the institution and kept at least 24 hours (48 by default). The same key with the same "
            "body replays the first answer (header `Idempotent-Replayed: true`); with another body or endpoint "
            "it is 422 `idempotency_key_reused`; while the first request still runs it is 409 `idempotency_key_in_use`."
        ),
    ),
]

REPLAYED_RESPONSE_HEADER = ResponseHeader(
    name=REPLAYED_HEADER,
    description="`true` when this answer is the replay of the first answer to the same Idempotency-Key",
    documentation_only=True,
    required=False,
)

Work = Callable[[Session], tuple[int, BaseModel]]

_purge_lock = threading.Lock()
_last_purge = 0.0


def _canonical_body(body: BaseModel | None) -> bytes:
    if body is None:
        return b""
    return json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _now() -> dt.datetime:
    # Retention of keys is a matter of wall-clock time, not of the business date.
    return dt.datetime.now(dt.timezone.utc)


def _maybe_purge(session_factory) -> None:
    global _last_purge
    if time.monotonic() - _last_purge < PURGE_EVERY_SECONDS or not _purge_lock.acquire(blocking=False):
        return
    try:
        _last_purge = time.monotonic()
        with unit_of_work(session_factory) as session:
            purge_expired(session, now=_now())
    finally:
        _purge_lock.release()


class _Heartbeat:
    """One daemon thread per process refreshing the heartbeat of every run in flight (one short
    transaction per database every ``HEARTBEAT_EVERY_SECONDS``); it sleeps while nothing runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[object, Claim]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, session_factory, claim: Claim) -> int:
        with self._lock:
            token = id(claim)
            self._runs[token] = (session_factory, claim)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name="idempotency-heartbeat", daemon=True)
                self._thread.start()
            self._wake.set()
            return token

    def remove(self, token: int) -> None:
        with self._lock:
            self._runs.pop(token, None)

    def _beat(self) -> None:
        last = time.monotonic()
        while True:
            if not self._wake.is_set():
                self._wake.wait()
                last = time.monotonic()
            time.sleep(min(HEARTBEAT_EVERY_SECONDS, 0.25))  # short naps: a changed period takes effect at once
            if time.monotonic() - last < HEARTBEAT_EVERY_SECONDS:
                continue
            last = time.monotonic()
            with self._lock:
                runs = list(self._runs.values())
                if not runs:
                    self._wake.clear()
                    continue
            by_database: dict[int, tuple[object, list[Claim]]] = {}
            for session_factory, claim in runs:
                by_database.setdefault(id(session_factory), (session_factory, []))[1].append(claim)
            for session_factory, claims in by_database.values():
                try:
                    with unit_of_work(session_factory) as session:
                        keep_alive(session, claims, now=_now())
                except Exception:  # noqa: BLE001  (a missed beat is retried; the run itself decides its fate)
                    log.warning("idempotency heartbeat failed", exc_info=True)


_heartbeat = _Heartbeat()


def _send(answer: StoredAnswer, *, replayed: bool) -> Response[bytes]:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return Response(content=answer.body.encode(), status_code=answer.status_code, media_type=answer.media_type, headers=headers)


def person_scoped(actor: Actor, key: str) -> str:
    """The key as stored: a person's keys are their own (two people of one institution choosing the same
    Idempotency-Key must not receive each other's answers), an institution's system key as sent.

    >>> person_scoped(Actor(1, "FM", "fund_manager", person_id=7), "k1").startswith("p7:")
    True
    """
    if actor.person_id is None:
        return key
    import hashlib

    return f"p{actor.person_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def run_idempotent(request: Request, actor: Actor, key: str, body: BaseModel | None, work: Work) -> Response[bytes]:
    """Run ``work`` once per (institution, key); see the module docstring. Call from a sync handler."""
    key = person_scoped(actor, key)
    session_factory = request.app.state.session_factory
    settings = get_settings()
    _maybe_purge(session_factory)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fingerprint = request_fingerprint(request.method, path, _canonical_body(body))
    with unit_of_work(session_factory) as session:
        claimed = claim_key(
            session, actor.institution_id, key, fingerprint, now=_now(), ttl=dt.timedelta(hours=settings.idempotency_ttl_hours),
            stale_after=STALE_AFTER,
        )
    if isinstance(claimed, StoredAnswer):
        return _send(claimed, replayed=True)
    return _run(request, session_factory, claimed, work)


def _run(request: Request, session_factory, claim: Claim, work: Work) -> Response[bytes]:
    beat = _heartbeat.add(session_factory, claim)
    try:
        return _run_claimed(request, session_factory, claim, work)
    finally:
        _heartbeat.remove(beat)


def _audit_names(request: Request) -> tuple[str, str | None]:
    """The audit action and target of a POST (rule G2): ``POST /loans/{loan_id}/claims`` on ``loan:12``."""
    template = str(request.scope.get("path_template") or request.url.path).removeprefix("/api/v1")
    params = request.path_params
    target = next((f"{name.removesuffix('_id')}:{params[name]}" for name in ("claim_id", "repayment_id", "loan_id") if name in params),
                  None)
    return f"{request.method} {template}"[:64], target


def _run_claimed(request: Request, session_factory, claim: Claim, work: Work) -> Response[bytes]:
    # Every change through the API is an audit record in its own transaction (rule G2), unless the
    # work recorded one itself; a refusal is recorded once rolled back.
    actor = getattr(request.state, "actor", None)
    recorded_before = audit.recorded_count()
    try:
        with unit_of_work(session_factory) as session:
            status, model = work(session)
            if audit.recorded_count() == recorded_before:
                audit.record(session, actor, *_audit_names(request))
            answer = StoredAnswer(status, "application/json", model.model_dump_json())
            complete(session, claim, answer)
        return _send(answer, replayed=False)
    except DomainError as exc:
        refusal = exc
    except BaseException:
        with unit_of_work(session_factory) as session:
            release(session, claim)
        raise
    # The work was refused and rolled back: its refusal is the answer to replay.
    problem = domain_problem(refusal, request.url.path)
    answer = StoredAnswer(problem.status, PROBLEM_MEDIA_TYPE, problem.model_dump_json())
    if refusal.code != "idempotency_key_in_use":
        if not audit.caller_records_refusals() and audit.recorded_count() == recorded_before:
            audit.record_refusal(session_factory, actor, *_audit_names(request), refusal)
        with unit_of_work(session_factory) as session:
            complete(session, claim, answer)
    headers = {"WWW-Authenticate": 'Bearer realm="ipfund"'} if problem.status == 401 else None
    return problem_response(problem, headers)

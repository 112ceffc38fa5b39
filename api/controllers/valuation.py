"""Valuation (rule V, docs/rules.md section 7): the fund manager values one asset, or a batch, from the inputs
sent. Nothing is stored but the idempotent answer; the book's valuations come from registration and
``ipfund value revalue``."""

from __future__ import annotations

import math

import numpy as np
from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.batch import BatchRefused
from api.deps import Caller
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.domain.money import BP_ONE
from fund.errors import DomainError
from risk.valuation import ValuationInputError, value_asset, value_assets
from schemas.valuation import AssetValuationIn, AssetValuationOut, ValuationBatchIn, ValuationBatchOut

POST_ERRORS = (400, 409, 413)
RATES = ("growth", "royalty", "tax", "discount", "decay")
# the model's argument -> the request field that carries it
_FIELD_OF_ARGUMENT = {rate: f"{rate}_bp" for rate in RATES}


def _refusal(exc: ValuationInputError) -> DomainError:
    field = _FIELD_OF_ARGUMENT.get(exc.argument, exc.argument)
    return DomainError("invalid_valuation_inputs", str(exc), field=field)


def _value_one(item: AssetValuationIn) -> AssetValuationOut:
    try:
        valuation = value_asset(
            item.kind, item.filing_date, item.as_of, revenue_fen=item.revenue_fen,
            **{rate: getattr(item, f"{rate}_bp") / BP_ONE for rate in RATES},
            registration_date=item.registration_date, legal_status=item.legal_status,
        )
    except ValuationInputError as exc:
        raise _refusal(exc) from None
    document = valuation.as_dict()
    del document["inputs"]
    return AssetValuationOut.model_validate(document)


def _value_batch(items: list[AssetValuationIn]) -> list[AssetValuationOut]:
    """All items at once with the vectorised form; when any is refused, every refusal by index."""
    try:
        valued = value_assets(
            [i.kind for i in items],
            np.array([i.filing_date for i in items], dtype="datetime64[D]"),
            np.array([i.as_of for i in items], dtype="datetime64[D]"),
            revenue_fen=np.array([i.revenue_fen for i in items], dtype=np.int64),
            **{rate: np.array([getattr(i, f"{rate}_bp") for i in items], dtype=np.float64) / BP_ONE for rate in RATES},
            registration_date=np.array([i.registration_date for i in items], dtype="datetime64[D]"),
            legal_status=np.array([i.legal_status for i in items], dtype=object),
        )
    except ValuationInputError:
        refused = []
        for index, item in enumerate(items):
            try:
                _value_one(item)
            except DomainError as exc:
                refused.append((index, exc))
        raise BatchRefused(refused) from None
    out = []
    for i in range(len(items)):
        years = math.ceil(valued.life_years[i])
        term_end = valued.legal_term_end[i]
        legal_life = float(valued.legal_life_years[i])
        out.append(AssetValuationOut(
            value_fen=int(valued.value_fen[i]),
            collateral_value_fen=int(valued.collateral_value_fen[i]),
            life_years=float(valued.life_years[i]),
            life_reason=str(valued.life_reason[i]),
            legal_term_end=None if np.isnat(term_end) else term_end.astype(object),
            legal_life_years=None if math.isnan(legal_life) else legal_life,
            royalty_used=float(valued.royalty_used[i]),
            cash_flows_fen=valued.cash_flows_fen[i, :years].tolist(),
            present_values_fen=valued.present_values_fen[i, :years].tolist(),
            assumptions_id=valued.assumptions_id,
        ))
    return out


class ValuationController(Controller):
    path = "/valuations"
    tags = ["valuations"]

    @post(
        "/", status_code=200, sync_to_thread=True, summary="Value one asset (rule V)",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=POST_ERRORS),
    )
    def value_one(
        self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, data: JSONBody[AssetValuationIn]
    ) -> Response[AssetValuationOut]:
        """Relief-from-royalty value (V2) and collateral value (V3) of one asset, with the life used and
        its reason and the yearly cash flows. Rates in bp; money in fen. Nothing is stored."""

        def work(_session: Session):
            return 200, _value_one(data)

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post(
        "/batch", status_code=200, sync_to_thread=True, summary="Value up to 1000 assets (rule V)",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=POST_ERRORS),
    )
    def value_batch(
        self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, data: JSONBody[ValuationBatchIn]
    ) -> Response[ValuationBatchOut]:
        """Value 1 to 1000 assets at once (the vectorised model: the same figures as one by one, within
        1 fen). When any item is refused the answer (`batch_refused`) lists every refused item by
        `index`."""

        def work(_session: Session):
            return 200, ValuationBatchOut(items=_value_batch(list(data.items)))

        return run_idempotent(request, actor, idempotency_key, data, work)

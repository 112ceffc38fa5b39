"""Rule V as a service: value pledged assets that carry valuation inputs, store each valuation beside
the appraiser's figure, revalue the whole book at once, and summarise collateral coverage.

An asset's ``valuation_inputs`` (JSON on ``ip_assets``) is::

    {"revenue_fen": 5000000000, "growth_bp": 500, "royalty_bp": 300, "tax_bp": 1500,
     "discount_bp": 1400, "decay_bp": 800,
     "claims_count": 12, "forward_citations": 3, "family_size": 2}     # the last three optional

Rates are integer bp here (the edge); :mod:`risk.valuation` takes fractions. The term starts from
the filing date, or from ``grant_date`` (the registration date) for a trademark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Institution, IpAsset, Loan, LoanAsset
from fund.adapters.models.valuation import AssetValuation
from fund.domain.money import BP_ONE
from fund.domain.status import LIVE_STATUSES, RELEASED_STATUSES
from fund.errors import DomainError, NotFound
from fund.services.common import business_date
from risk.valuation import (
    RiskAssumptions,
    check_valuation_inputs,
    load_assumptions,
    quality_scores,
    remaining_legal_life_years_many,
    value_asset,
    value_assets,
)

RATE_KEYS = ("growth_bp", "royalty_bp", "tax_bp", "discount_bp", "decay_bp")
REQUIRED_KEYS = ("revenue_fen", *RATE_KEYS)
QUALITY_KEYS = ("claims_count", "forward_citations", "family_size")
INSERT_CHUNK = 2_000
_VALUATIONS = AssetValuation.__table__  # Core inserts: plain executemany, no ORM bookkeeping per row

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as the assets of a revaluation are stored."""


# --------------------------------------------------------------------------------------------------
# The inputs document


def _document_error(message: str, field: str) -> DomainError:
    return DomainError("invalid_valuation_inputs", message, field=field)


def _document_shape(document: Any, field: str) -> dict[str, int]:
    """Known keys only, the required ones present, every value an integer (quality counts >= 0)."""
    if not isinstance(document, Mapping):
        raise _document_error(f"{field} must be an object", field)
    unknown = sorted(set(document) - set(REQUIRED_KEYS) - set(QUALITY_KEYS))
    if unknown:
        raise _document_error(f"{field} has unknown keys: {', '.join(unknown)}", f"{field}.{unknown[0]}")
    for key in (*REQUIRED_KEYS, *QUALITY_KEYS):
        if key not in document:
            if key in REQUIRED_KEYS:
                raise _document_error(f"{field}.{key} is required", f"{field}.{key}")
            continue
        value = document[key]
        if type(value) is not int:
            raise _document_error(f"{field}.{key} must be an integer, got {value!r}", f"{field}.{key}")
        if key in QUALITY_KEYS and value < 0:
            raise _document_error(f"{field}.{key} must be >= 0, got {value}", f"{field}.{key}")
    return {key: document[key] for key in (*REQUIRED_KEYS, *QUALITY_KEYS) if key in document}


def check_valuation_document(
    document: Any,
    *,
    kind: str,
    filing_date: dt.date,
    grant_date: dt.date | None,
    as_of: dt.date,
    field: str = "valuation_inputs",
) -> dict[str, int]:
    """Check an asset's valuation inputs (shape here, ranges and dates by
    :func:`risk.valuation.check_valuation_inputs`); returns the document with only known keys.

    Raises ``DomainError("invalid_valuation_inputs", ..., field=...)``. The registry may call this
    before storing an asset so that bad inputs are refused at registration.
    """
    inputs = _document_shape(document, field)
    try:
        check_valuation_inputs(
            kind, filing_date, as_of, inputs["revenue_fen"],
            *(inputs[key] / BP_ONE for key in RATE_KEYS),
            registration_date=grant_date if kind == "trademark" else None,
        )
    except ValueError as exc:
        raise _document_error(f"{field}: {exc}", field) from None
    return inputs


# --------------------------------------------------------------------------------------------------
# Valuing rows


@dataclass(frozen=True)
class _AssetRow:
    id: int
    kind: str
    number: str
    filing_date: dt.date
    grant_date: dt.date | None
    legal_status: str
    appraised_value_fen: int
    appraised_on: dt.date
    inputs: dict[str, int]


@dataclass(frozen=True)
class SkippedAsset:
    asset_id: int
    kind: str
    number: str
    reason: str


_ASSET_COLUMNS = (
    IpAsset.id, IpAsset.kind, IpAsset.number, IpAsset.filing_date, IpAsset.grant_date, IpAsset.legal_status,
    IpAsset.appraised_value_fen, IpAsset.appraised_on, IpAsset.valuation_inputs,
)


def _split_rows(result_rows: Sequence[Any], as_of: dt.date) -> tuple[list[_AssetRow], list[SkippedAsset]]:
    """Rows whose inputs document has the right shape; the others skipped with a reason. Ranges and
    dates are checked all at once when valuing (:func:`_value_or_skip`)."""
    kept: list[_AssetRow] = []
    skipped: list[SkippedAsset] = []
    for asset_id, kind, number, filing, grant, status, appraised, appraised_on, document in result_rows:
        if document is None:
            continue
        try:
            inputs = _document_shape(document, "valuation_inputs")
        except DomainError as exc:
            skipped.append(SkippedAsset(asset_id, kind, number, exc.message))
            continue
        kept.append(_AssetRow(asset_id, kind, number, filing, grant, status, appraised, appraised_on, inputs))
    return kept, skipped


def _quality(rows: Sequence[_AssetRow], as_of: dt.date) -> np.ndarray:
    """q of each row against the others (NaN where it does not apply)."""
    kinds = [r.kind for r in rows]
    registration = [r.grant_date if r.kind == "trademark" else None for r in rows]
    lives = remaining_legal_life_years_many(kinds, [r.filing_date for r in rows], as_of, registration)
    features = [np.array([r.inputs.get(key, np.nan) for r in rows], dtype=np.float64) for key in QUALITY_KEYS]
    return quality_scores(kinds, *features, lives)


def _value_rows(rows: Sequence[_AssetRow], as_of: dt.date, quality: bool, assumptions: RiskAssumptions):
    """Value all rows with the vectorised form; returns (valuations, q per row)."""
    q = _quality(rows, as_of) if quality and rows else np.full(len(rows), np.nan)
    valued = value_assets(
        [r.kind for r in rows],
        np.array([r.filing_date for r in rows], dtype="datetime64[D]"),
        as_of,
        revenue_fen=np.array([r.inputs["revenue_fen"] for r in rows], dtype=np.int64),
        **{key[:-3]: np.array([r.inputs[key] for r in rows], dtype=np.float64) / BP_ONE for key in RATE_KEYS},
        registration_date=np.array([r.grant_date if r.kind == "trademark" else None for r in rows], dtype="datetime64[D]"),
        legal_status=np.array([r.legal_status for r in rows], dtype=object),
        quality=q,
        assumptions=assumptions,
    )
    return valued, q


def _value_or_skip(rows: list[_AssetRow], as_of: dt.date, quality: bool, assumptions: RiskAssumptions):
    """:func:`_value_rows`; should the inputs of some asset fail (a rate out of range, an asset not yet
    filed on ``as_of``, an amount past 2^63 fen), find those one by one, skip them and value the rest."""
    try:
        return rows, [], *_value_rows(rows, as_of, quality, assumptions)
    except ValueError:
        pass
    good: list[_AssetRow] = []
    skipped: list[SkippedAsset] = []
    for r in rows:
        try:
            value_asset(r.kind, r.filing_date, as_of, revenue_fen=r.inputs["revenue_fen"],
                        **{key[:-3]: r.inputs[key] / BP_ONE for key in RATE_KEYS},
                        registration_date=r.grant_date if r.kind == "trademark" else None,
                        legal_status=r.legal_status, assumptions=assumptions)
        except ValueError as exc:
            skipped.append(SkippedAsset(r.id, r.kind, r.number, f"valuation_inputs: {exc}"))
        else:
            good.append(r)
    return good, skipped, *_value_rows(good, as_of, quality, assumptions)


def _records(rows: Sequence[_AssetRow], valued, q: np.ndarray, as_of: dt.date) -> list[dict[str, Any]]:
    model = valued.value_fen.tolist()
    collateral = valued.collateral_value_fen.tolist()
    lives = valued.life_years.tolist()
    reasons = valued.life_reason.tolist()
    qualities = [None if np.isnan(x) else float(x) for x in q.tolist()]
    return [
        dict(
            asset_id=r.id, as_of=as_of,
            inputs={**r.inputs, "quality": qualities[i]} if qualities[i] is not None else dict(r.inputs),
            model_value_fen=model[i], collateral_value_fen=collateral[i],
            appraised_value_fen=r.appraised_value_fen, appraised_on=r.appraised_on,
            life_years=lives[i], life_reason=reasons[i], assumptions_id=valued.assumptions_id,
        )
        for i, r in enumerate(rows)
    ]


def _check_as_of(session: Session, as_of: dt.date) -> None:
    from fund.domain.dates import check_event_date

    check_event_date(as_of, "as_of", business_date(session))


# --------------------------------------------------------------------------------------------------
# At registration


def value_assets_for_loan(session: Session, loan_id: int, as_of: dt.date) -> list[AssetValuation]:
    """Value the assets of one loan that carry valuation inputs, as of ``as_of`` (the registration's
    business date), in the caller's transaction; returns the stored rows, by asset id (one per asset,
    replacing a valuation of the same asset on the same date).

    Bad inputs raise ``DomainError("invalid_valuation_inputs")`` naming the asset: at registration they
    are refused, not skipped.
    """
    if session.get(Loan, loan_id) is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return value_assets_for_loans(session, [loan_id], as_of)


def value_assets_for_loans(session: Session, loan_ids: Sequence[int], as_of: dt.date) -> list[AssetValuation]:
    """:func:`value_assets_for_loan` for many loans at once (a batch registration): one query, one
    vectorised valuation, one bulk insert."""
    if not loan_ids:
        return []
    result_rows = session.execute(
        select(*_ASSET_COLUMNS).where(
            IpAsset.id.in_(select(LoanAsset.asset_id).where(LoanAsset.loan_id.in_(list(loan_ids))))
        ).order_by(IpAsset.id)
    ).all()
    rows, skipped = _split_rows(result_rows, as_of)
    if not skipped:
        rows, skipped, valued, q = _value_or_skip(rows, as_of, False, load_assumptions())
    if skipped:
        bad = skipped[0]
        raise _document_error(f"{bad.kind} {bad.number}: {bad.reason}", "valuation_inputs")
    if not rows:
        return []
    ids = [r.id for r in rows]
    session.execute(delete(AssetValuation).where(AssetValuation.as_of == as_of, AssetValuation.asset_id.in_(ids)))
    session.execute(_VALUATIONS.insert(), _records(rows, valued, q, as_of))
    return list(session.scalars(
        select(AssetValuation).where(AssetValuation.as_of == as_of, AssetValuation.asset_id.in_(ids))
        .order_by(AssetValuation.asset_id)
    ))


# --------------------------------------------------------------------------------------------------
# The whole book


@dataclass(frozen=True)
class RevalueResult:
    as_of: dt.date
    assets_valued: int
    model_value_fen: int
    collateral_value_fen: int
    appraised_value_fen: int
    quality_adjusted: bool
    skipped: tuple[SkippedAsset, ...]
    assumptions_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "assets_valued": self.assets_valued,
            "model_value_fen": self.model_value_fen,
            "collateral_value_fen": self.collateral_value_fen,
            "appraised_value_fen": self.appraised_value_fen,
            "quality_adjusted": self.quality_adjusted,
            "assumptions_id": self.assumptions_id,
            "skipped": [vars(s) for s in self.skipped],
        }


def _book_asset_ids():
    """Assets still pledged: on a loan that is not repaid, cancelled or closed."""
    return (
        select(LoanAsset.asset_id).join(Loan, Loan.id == LoanAsset.loan_id)
        .where(Loan.status.not_in(RELEASED_STATUSES)).distinct()
    )


def revalue_book(
    session_factory: sessionmaker[Session],
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    *,
    quality: bool = False,
) -> RevalueResult:
    """Revalue every pledged asset that carries valuation inputs, as of ``as_of`` (default: the
    business date, read inside the transaction), in one transaction:
    one query loads the inputs, :func:`risk.valuation.value_assets` values them all at once, and the
    rows go in by bulk insert (replacing valuations of the same assets on the same date).

    ``quality=True`` turns on the quality adjustment, each patent ranked against the book's patents of
    its kind. Assets whose inputs are malformed, not yet filed on ``as_of``, or imply an amount past
    2^63 fen are skipped and listed in the result.
    """
    with unit_of_work(session_factory) as session:
        as_of = business_date(session) if as_of is None else as_of
        _check_as_of(session, as_of)
        result_rows = session.execute(
            select(*_ASSET_COLUMNS).where(IpAsset.id.in_(_book_asset_ids())).order_by(IpAsset.id)
        ).all()
        rows, skipped = _split_rows(result_rows, as_of)
        assumptions = load_assumptions()
        rows, more_skipped, valued, q = _value_or_skip(rows, as_of, quality, assumptions)
        skipped.extend(more_skipped)
        total = len(rows)
        if progress is not None:
            progress(0, total)
        session.execute(
            delete(AssetValuation).where(AssetValuation.as_of == as_of, AssetValuation.asset_id.in_(_book_asset_ids()))
        )
        records = _records(rows, valued, q, as_of)
        for start in range(0, total, INSERT_CHUNK):
            session.execute(_VALUATIONS.insert(), records[start:start + INSERT_CHUNK])
            if progress is not None:
                progress(min(start + INSERT_CHUNK, total), total)
        return RevalueResult(
            as_of=as_of,
            assets_valued=total,
            model_value_fen=int(valued.value_fen.sum(dtype=object)) if total else 0,
            collateral_value_fen=int(valued.collateral_value_fen.sum(dtype=object)) if total else 0,
            appraised_value_fen=sum(r.appraised_value_fen for r in rows),
            quality_adjusted=quality,
            skipped=tuple(skipped),
            assumptions_id=assumptions.id,
        )


# --------------------------------------------------------------------------------------------------
# Collateral coverage


def _appraisal_collateral_fen(kind: str, legal_status: str, appraised_value_fen: int, assumptions: RiskAssumptions) -> int:
    """V3 on the appraiser's figure, for an asset with no model valuation: exact integers."""
    if legal_status != "valid":
        return 0
    keep = (BP_ONE - assumptions.invalidation_probability_bp[kind]) * (BP_ONE - assumptions.liquidation_haircut_bp)
    return appraised_value_fen * keep // (BP_ONE * BP_ONE)


def _coverage_group() -> dict[str, int | None]:
    return {"loans": 0, "covered_fen": 0, "collateral_value_fen": 0, "coverage_bp": None,
            "model_collateral_value_fen": 0, "appraisal_collateral_value_fen": 0,
            "model_valued_assets": 0, "appraisal_based_assets": 0}


def collateral_summary(session: Session, as_of: dt.date | None = None) -> dict[str, Any]:
    """Collateral coverage of the live covered loans (``active`` or ``claimed``, C > 0), in total, by
    bank code and by sector: ``collateral_value_fen / covered_fen`` as ``coverage_bp`` (floored; None
    when nothing is covered), with the two sums.

    A loan's collateral value is the sum over its pledged assets of the latest model collateral value
    (valued on or before ``as_of``, any date when None); an asset with no model valuation counts V3
    applied to its appraised value, ``floor(appraised * (1 - p) * (1 - haircut))`` (0 when not valid),
    as rule M3 takes the appraised value where the inputs are missing. The two parts are given apart
    (``model_collateral_value_fen``, ``appraisal_collateral_value_fen``, with the counts of assets),
    because appraisers' figures run well above the model's.
    """
    assumptions = load_assumptions()
    loans = session.execute(
        select(Loan.id, Institution.code, Loan.borrower_sector, Loan.covered_fen)
        .join(Institution, Institution.id == Loan.bank_id)
        .where(Loan.status.in_(LIVE_STATUSES), Loan.covered_fen > 0)
        .order_by(Loan.id)
    ).all()
    latest = select(AssetValuation.asset_id, func.max(AssetValuation.as_of).label("as_of")).group_by(AssetValuation.asset_id)
    if as_of is not None:
        latest = latest.where(AssetValuation.as_of <= as_of)
    latest = latest.subquery()
    live_loans = (select(Loan.id).where(Loan.status.in_(LIVE_STATUSES), Loan.covered_fen > 0))
    pledged = session.execute(
        select(LoanAsset.loan_id, IpAsset.kind, IpAsset.legal_status, IpAsset.appraised_value_fen,
               AssetValuation.collateral_value_fen)
        .join(IpAsset, IpAsset.id == LoanAsset.asset_id)
        .outerjoin(latest, latest.c.asset_id == IpAsset.id)
        .outerjoin(AssetValuation, (AssetValuation.asset_id == latest.c.asset_id) & (AssetValuation.as_of == latest.c.as_of))
        .where(LoanAsset.loan_id.in_(live_loans))
    ).all()
    # loan id -> [model collateral, appraisal collateral, model-valued assets, appraisal-based assets]
    per_loan: dict[int, list[int]] = {}
    for loan_id, kind, status, appraised, model_collateral in pledged:
        entry = per_loan.setdefault(loan_id, [0, 0, 0, 0])
        if model_collateral is None:
            entry[1] += _appraisal_collateral_fen(kind, status, appraised, assumptions)
            entry[3] += 1
        else:
            entry[0] += model_collateral
            entry[2] += 1
    total = _coverage_group()
    by_bank: dict[str, dict] = {}
    by_sector: dict[str, dict] = {}
    for loan_id, bank_code, sector, covered in loans:
        model_part, appraisal_part, model_count, appraisal_count = per_loan.get(loan_id, (0, 0, 0, 0))
        for group in (total, by_bank.setdefault(bank_code, _coverage_group()),
                      by_sector.setdefault(sector, _coverage_group())):
            group["loans"] += 1
            group["covered_fen"] += covered
            group["collateral_value_fen"] += model_part + appraisal_part
            group["model_collateral_value_fen"] += model_part
            group["appraisal_collateral_value_fen"] += appraisal_part
            group["model_valued_assets"] += model_count
            group["appraisal_based_assets"] += appraisal_count
    for group in (total, *by_bank.values(), *by_sector.values()):
        if group["covered_fen"]:
            group["coverage_bp"] = group["collateral_value_fen"] * BP_ONE // group["covered_fen"]
    return {
        "as_of": None if as_of is None else as_of.isoformat(),
        "assumptions_id": assumptions.id,
        "total": total,
        "by_bank": dict(sorted(by_bank.items())),
        "by_sector": dict(sorted(by_sector.items())),
    }

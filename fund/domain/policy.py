"""Policies as data (docs/rules.md section 2): parsing, validation and a content hash.

A policy is immutable. Its content hash is taken over a canonical JSON form of the parsed
document, so re-formatting a file does not change it but any change of a value does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from fund.domain.money import BP_ONE
from fund.domain.vocabulary import IP_KIND_VALUES, IpKind

IP_KINDS = IP_KIND_VALUES
PATENT_KINDS = (IpKind.INVENTION_PATENT.value, IpKind.UTILITY_MODEL.value, IpKind.DESIGN_PATENT.value)
SCHEME_PARTIES = ("fund", "bank", "insurer", "appraiser")
APPROPRIATION_KINDS = ("yearly", "once", "none")


class PolicyError(ValueError):
    """A policy document breaks a rule; the message names the key."""


@dataclass(frozen=True)
class Scheme:
    """Loss-sharing ratios in bp, adding up to 10000, the bank's included."""

    code: str
    ratios_bp: Mapping[str, int]

    def ratio(self, party: str) -> int:
        return self.ratios_bp.get(party, 0)

    @property
    def names_insurer(self) -> bool:
        return self.ratio("insurer") > 0

    @property
    def names_appraiser(self) -> bool:
        return self.ratio("appraiser") > 0


@dataclass(frozen=True)
class SubsidyTerms:
    ratio_bp: int
    lpr_markup_bp: int
    months: int
    enterprise_annual_cap_fen: int | None


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    valid_from: dt.date
    valid_to: dt.date
    schemes: Mapping[str, Scheme]
    eligible_ip_kinds: tuple[str, ...]
    single_loan_cap_fen: int | None
    borrower_annual_quota_fen: int | None
    bank_annual_cap_bp: int | None
    appropriation_kind: str
    appropriation_fen: int
    subsidy: SubsidyTerms
    claim_overdue_days: int | None
    claim_window_days: int | None
    min_registration_years: int
    content_hash: str
    document: Mapping[str, Any] = field(repr=False, compare=False)
    # revision 2 (docs/rules.md section 2): None = no fee subsidies / no suspension / always two people
    fee_subsidy_ratio_bp: int | None = None
    fee_subsidy_cap_fen: int | None = None
    bank_suspension_line_bp: int | None = None
    single_signoff_below_fen: int | None = None

    def in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on <= self.valid_to

    def overlaps(self, other: "Policy") -> bool:
        return self.valid_from <= other.valid_to and other.valid_from <= self.valid_to

    @property
    def accepts_claims(self) -> bool:
        return self.claim_overdue_days is not None and self.claim_window_days is not None

    def scheme(self, code: str) -> Scheme:
        try:
            return self.schemes[code]
        except KeyError:
            raise PolicyError(f"policy {self.id} has no scheme {code!r}") from None

    def yearly_appropriation_fen(self, year: int) -> int:
        """Appropriation a year brings: a one-off counts as 0 (docs/rules.md M1)."""
        if self.appropriation_kind == "yearly" and self.valid_from.year <= year <= self.valid_to.year:
            return self.appropriation_fen
        return 0


def policy_in_force(policies: Sequence[Policy], on: dt.date) -> Policy | None:
    """The policy of ``policies`` in force on ``on`` (active policies never overlap), else None."""
    return next((p for p in policies if p.in_force(on)), None)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def content_hash(document: Mapping[str, Any]) -> str:
    text = json.dumps(_canonical(dict(document)), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _int(doc: Mapping[str, Any], key: str, *, minimum: int = 0, optional: bool = False) -> int | None:
    if key not in doc:
        if optional:
            return None
        raise PolicyError(f"missing key {key!r}")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{key!r} must be an integer, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{key!r} must be >= {minimum}, got {value}")
    return value


def _date(doc: Mapping[str, Any], key: str) -> dt.date:
    value = doc.get(key)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PolicyError(f"{key!r} must be a date (YYYY-MM-DD), got {value!r}")


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed policy document and build the immutable Policy."""
    known = {
        "id", "name", "valid_from", "valid_to", "schemes", "eligible_ip_kinds", "single_loan_cap_fen",
        "borrower_annual_quota_fen", "bank_annual_cap_bp", "appropriation", "subsidy",
        "claim_overdue_days", "claim_window_days", "min_registration_years", "sources",
        "fee_subsidy_ratio_bp", "fee_subsidy_cap_fen", "bank_suspension_line_bp", "single_signoff_below_fen",
    }
    unknown = sorted(set(document) - known)
    if unknown:
        raise PolicyError(f"unknown key {unknown[0]!r}")
    policy_id = document.get("id")
    if not isinstance(policy_id, str) or not policy_id or len(policy_id) > 40:
        raise PolicyError("'id' must be a non-empty string of at most 40 characters")
    valid_from, valid_to = _date(document, "valid_from"), _date(document, "valid_to")
    if valid_to < valid_from:
        raise PolicyError("'valid_to' must not be before 'valid_from'")

    raw_schemes = document.get("schemes")
    if not isinstance(raw_schemes, dict) or not raw_schemes:
        raise PolicyError("'schemes' must be a table with at least one scheme")
    schemes: dict[str, Scheme] = {}
    for code, ratios in raw_schemes.items():
        if not isinstance(ratios, dict):
            raise PolicyError(f"scheme {code!r} must be a table of party = ratio_bp")
        for party, ratio in ratios.items():
            if party not in SCHEME_PARTIES:
                raise PolicyError(f"scheme {code!r}: unknown party {party!r}")
            if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 0:
                raise PolicyError(f"scheme {code!r}: ratio of {party!r} must be an integer >= 0")
        if "bank" not in ratios:
            raise PolicyError(f"scheme {code!r} must include the bank's ratio")
        if "fund" not in ratios:
            raise PolicyError(f"scheme {code!r} must include the fund's ratio")
        total = sum(ratios.values())
        if total != BP_ONE:
            raise PolicyError(f"scheme {code!r}: ratios add up to {total}, not {BP_ONE}")
        schemes[str(code)] = Scheme(code=str(code), ratios_bp=dict(ratios))

    kinds = document.get("eligible_ip_kinds")
    if not isinstance(kinds, list) or not kinds or any(k not in IP_KINDS for k in kinds):
        raise PolicyError(f"'eligible_ip_kinds' must be a non-empty list of {', '.join(IP_KINDS)}")

    appropriation = document.get("appropriation", {"kind": "none", "amount_fen": 0})
    if not isinstance(appropriation, dict) or appropriation.get("kind") not in APPROPRIATION_KINDS:
        raise PolicyError(f"'appropriation.kind' must be one of {', '.join(APPROPRIATION_KINDS)}")
    appropriation_fen = _int(appropriation, "amount_fen") or 0

    sub = document.get("subsidy")
    if not isinstance(sub, dict):
        raise PolicyError("missing table 'subsidy'")
    ratio_bp = _int(sub, "ratio_bp")
    if ratio_bp > BP_ONE:
        raise PolicyError("'subsidy.ratio_bp' must be at most 10000")
    subsidy = SubsidyTerms(
        ratio_bp=ratio_bp,
        lpr_markup_bp=_int(sub, "lpr_markup_bp"),
        months=_int(sub, "months", minimum=1),
        enterprise_annual_cap_fen=_int(sub, "enterprise_annual_cap_fen", optional=True),
    )
    overdue = _int(document, "claim_overdue_days", optional=True)
    window = _int(document, "claim_window_days", optional=True)
    if (overdue is None) != (window is None):
        raise PolicyError("'claim_overdue_days' and 'claim_window_days' go together")
    cap_bp = _int(document, "bank_annual_cap_bp", optional=True)
    if cap_bp is not None and cap_bp > BP_ONE:
        raise PolicyError("'bank_annual_cap_bp' must be at most 10000")
    fee_ratio = _int(document, "fee_subsidy_ratio_bp", optional=True)
    if fee_ratio is not None and fee_ratio > BP_ONE:
        raise PolicyError("'fee_subsidy_ratio_bp' must be at most 10000")
    fee_cap = _int(document, "fee_subsidy_cap_fen", optional=True)
    if fee_cap is not None and fee_ratio is None:
        raise PolicyError("'fee_subsidy_cap_fen' needs 'fee_subsidy_ratio_bp' (without it there are no fee subsidies)")
    line_bp = _int(document, "bank_suspension_line_bp", minimum=1, optional=True)
    if line_bp is not None and line_bp > BP_ONE:
        raise PolicyError("'bank_suspension_line_bp' must be at most 10000")
    single_below = _int(document, "single_signoff_below_fen", minimum=1, optional=True)

    return Policy(
        id=policy_id,
        name=str(document.get("name", policy_id)),
        valid_from=valid_from,
        valid_to=valid_to,
        schemes=schemes,
        eligible_ip_kinds=tuple(kinds),
        single_loan_cap_fen=_int(document, "single_loan_cap_fen", optional=True),
        borrower_annual_quota_fen=_int(document, "borrower_annual_quota_fen", optional=True),
        bank_annual_cap_bp=cap_bp,
        appropriation_kind=appropriation["kind"],
        appropriation_fen=appropriation_fen,
        subsidy=subsidy,
        claim_overdue_days=overdue,
        claim_window_days=window,
        min_registration_years=_int(document, "min_registration_years", minimum=0) if "min_registration_years" in document else 1,
        content_hash=content_hash(document),
        fee_subsidy_ratio_bp=fee_ratio,
        fee_subsidy_cap_fen=fee_cap,
        bank_suspension_line_bp=line_bp,
        single_signoff_below_fen=single_below,
        document=dict(document),
    )


def load_policy_file(path: Path) -> Policy:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_policy(document)


def shipped_policy_paths() -> list[Path]:
    return sorted((Path(__file__).resolve().parent.parent / "policies").glob("*.toml"))


@lru_cache(maxsize=1)
def _shipped() -> tuple[Policy, ...]:
    return tuple(load_policy_file(path) for path in shipped_policy_paths())


def shipped_policies() -> dict[str, Policy]:
    """The policies shipped with the project (``fund/policies/*.toml``) by id, read once.

    >>> sorted(shipped_policies())
    ['bj-zgc-2024', 'gz-2020', 'gz-2023']
    """
    return {policy.id: policy for policy in _shipped()}


def shipped_policy(policy_id: str) -> Policy:
    """One shipped policy by id; ``PolicyError`` (a ``ValueError``) when none has that id.

    >>> shipped_policy("gz-2023").valid_from.year
    2023
    """
    found = shipped_policies().get(policy_id)
    if found is None:
        raise PolicyError(f"no shipped policy {policy_id!r}")
    return found


@lru_cache(maxsize=64)
def policy_from_json(document_json: str) -> Policy:
    """Rebuild a stored policy from its stored canonical document (cached: policies are immutable)."""
    return parse_policy(json.loads(document_json))


def policy_document_json(policy: Policy) -> str:
    return json.dumps(_canonical(dict(policy.document)), ensure_ascii=False, separators=(",", ":"))

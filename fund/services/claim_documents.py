"""Documents a bank attaches to its claim as evidence (docs/rules.md section 4, A1): PDF, PNG, JPEG,
TIFF, DOCX or XLSX recognised by their content (not only their name), at most 20 MiB each and 100 MiB
per claim, each stored with its SHA-256 and never changed. The bank of the claim attaches while the
claim is filed; the fund manager and auditors (and the bank) read them.

>>> kind_of(b"%PDF-1.7 ...", "notice.pdf")
'application/pdf'
>>> kind_of(b"hello", "notice.pdf") is None
True
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.adapters.models.claims import Claim
from fund.adapters.models.console import ClaimDocument
from fund.errors import DomainError, Forbidden, NotFound
from fund.services.registry import Actor

MAX_DOCUMENT_BYTES = 20 * 2**20
MAX_CLAIM_BYTES = 100 * 2**20
MAX_FILENAME = 200
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    claim_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_at: object


def kind_of(content: bytes, filename: str) -> str | None:
    """The media type recognised from the bytes (the name only tells DOCX from XLSX inside a zip)."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if content.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
        except zipfile.BadZipFile:
            return None
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return None


def _info(row: ClaimDocument) -> DocumentInfo:
    return DocumentInfo(row.id, row.claim_id, row.filename, row.media_type, row.size_bytes, row.sha256, row.uploaded_at)


def _readable_claim(session: Session, actor: Actor, claim_id: int) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None or (actor.kind not in ("fund_manager", "auditor") and claim.bank_id != actor.institution_id):
        raise NotFound("claim_not_found", f"no claim {claim_id}", field="claim_id")
    return claim


def attach(session: Session, actor: Actor, claim_id: int, filename: str, content: bytes) -> DocumentInfo:
    """The bank of a filed claim attaches one document."""
    claim = _readable_claim(session, actor, claim_id)
    if actor.kind != "bank" or claim.bank_id != actor.institution_id:
        raise Forbidden("forbidden", "only the claim's bank attaches documents")
    if claim.status != "filed":
        raise DomainError("invalid_claim_status", f"claim {claim.id} is {claim.status}: documents are attached while it is filed",
                          field="claim_id")
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:MAX_FILENAME] or "document"
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        raise DomainError("invalid_document", f"a document is 1 byte to 20 MiB, got {len(content)} bytes", field="document")
    media_type = kind_of(content, name)
    if media_type is None:
        raise DomainError("invalid_document", f"{name} is not a PDF, PNG, JPEG, TIFF, DOCX or XLSX file", field="document")
    held = session.scalar(select(func.coalesce(func.sum(ClaimDocument.size_bytes), 0)).where(ClaimDocument.claim_id == claim.id)) or 0
    if held + len(content) > MAX_CLAIM_BYTES:
        raise DomainError("invalid_document", "a claim's documents are at most 100 MiB in all", field="document")
    row = ClaimDocument(claim_id=claim.id, filename=name, media_type=media_type, size_bytes=len(content),
                        sha256=hashlib.sha256(content).hexdigest(), content=content, uploaded_by=actor.person_id)
    session.add(row)
    session.flush()
    session.refresh(row)
    return _info(row)


def list_documents(session: Session, actor: Actor, claim_id: int) -> list[DocumentInfo]:
    _readable_claim(session, actor, claim_id)
    rows = session.scalars(select(ClaimDocument).where(ClaimDocument.claim_id == claim_id).order_by(ClaimDocument.id))
    return [_info(r) for r in rows]


def document_content(session: Session, actor: Actor, claim_id: int, document_id: int) -> tuple[DocumentInfo, bytes]:
    _readable_claim(session, actor, claim_id)
    row = session.get(ClaimDocument, document_id)
    if row is None or row.claim_id != claim_id:
        raise NotFound("document_not_found", f"claim {claim_id} has no document {document_id}", field="document_id")
    return _info(row), bytes(row.content)

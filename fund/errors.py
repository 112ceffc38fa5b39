"""The one error type of the rules and services: a stable code, a message and the field at fault.

The kinds below say what went wrong, never how an entrypoint answers it: the API maps each kind to
an HTTP status (``api/problems.py``), the CLI prints the message and exits 1.

>>> str(Conflict("claim_exists", "loan 7 already has claim 3 open", field="loan_id"))
'loan 7 already has claim 3 open'
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal under the rules. ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """The record does not exist, or the actor may not know that it does."""


class Conflict(DomainError):
    """The record's current state refuses the request (a status, a duplicate, a race lost)."""


class Forbidden(DomainError):
    """The actor may not do this."""


class Unauthorized(DomainError):
    """No usable credentials."""


class Unavailable(DomainError):
    """The system cannot answer now (a missing part, a database not ready)."""


class DatabaseNotReady(Unavailable):
    """The database is not migrated to the code's head."""

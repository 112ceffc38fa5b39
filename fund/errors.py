"""The one error type of the rules and services: a stable code, a message and the field at fault."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal under the rules. ``code`` is stable and machine-readable."""

    status_code = 422

    def __init__(self, code: str, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403


class DatabaseNotReady(DomainError):
    status_code = 503

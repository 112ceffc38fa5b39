"""The console's answers to refusals: not signed in (to the sign-in page), a role that may not see a
page (a 403 page), something that does not exist (404), a domain error (the page of the error,
translated), a CSRF failure (403), anything else (a 500 page that names the request, never a trace).
And the security headers of every console answer."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template

from api.console.web import NotSignedIn, RoleRefused, language_of, page, url
from api.problems import status_of
from fund.errors import DomainError

log = logging.getLogger("ipfund.console")

# Every asset is the app's own: the browser is told to fetch nothing from another host.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'self'")


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _with_headers(response: Response) -> Response:
    return security_headers(response)


def _not_signed_in(request: Request, _exc: Exception) -> Response:
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _with_headers(Redirect(path=url("/login", next=target), status_code=303))
    return _with_headers(Redirect(path=url("/login", expired=1), status_code=303))


def refusal_page(request: Request, status: int, title: str, message: str) -> Template:
    return page(request, "error.html", title, status_code=status, message=message, status=status)


def _role_refused(request: Request, _exc: Exception) -> Response:
    from api.console.i18n import translator

    _ = translator(language_of(request)).gettext
    return _with_headers(refusal_page(request, 403, "Not allowed", _("Your role does not allow you to see this page.")))


def _http(request: Request, exc: HTTPException) -> Response:
    from api.console.i18n import translator

    _ = translator(language_of(request)).gettext
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return _with_headers(refusal_page(request, 403, "Not allowed",
                                          _("The form has expired or did not come from this console. Open the page again and resend it.")))
    if isinstance(exc, NotFoundException):
        return _with_headers(refusal_page(request, 404, "Not found", _("There is no such page or record.")))
    if exc.status_code >= 500:
        return _unexpected(request, exc)
    if exc.status_code == 403:
        return _role_refused(request, exc)
    return _with_headers(refusal_page(request, exc.status_code, "Refused", _("The request was refused.")))


def _domain(request: Request, exc: DomainError) -> Response:
    from api.console.web import error_text

    status = status_of(exc) if status_of(exc) in (403, 404, 409, 422) else 422
    title = {403: "Not allowed", 404: "Not found", 409: "Refused", 422: "Refused"}[status]
    return _with_headers(refusal_page(request, status, title, error_text(exc.code, exc.message, language_of(request))))


def _unexpected(request: Request, exc: Exception) -> Response:
    from api.console.i18n import translator

    log.exception("console error on %s %s", request.method, request.url.path, exc_info=exc)
    _ = translator(language_of(request)).gettext
    return _with_headers(refusal_page(request, 500, "Something went wrong",
                                      _("The console could not finish this request. Nothing was changed by it if it was refused; tell the administrator the time it happened.")))


EXCEPTION_HANDLERS = {
    NotSignedIn: _not_signed_in,
    RoleRefused: _role_refused,
    DomainError: _domain,
    HTTPException: _http,
    Exception: _unexpected,
}

"""The fund manager's web console, mounted in the API's Litestar app under ``/console/``.

Server-rendered pages (Litestar's Jinja2 template engine), plain HTML forms, small scripts of our
own (``static/``); sessions kept server-side in the database (``console_sessions``, shared by every
worker) behind an HttpOnly SameSite cookie that idles out after 30 minutes; Litestar's CSRF check on
every form (the bearer-key API under ``/api`` is exempt); 简体中文 by default, English on a switch
remembered per person (gettext catalogues, ``translations/``).

``api.app.create_app`` takes :data:`TEMPLATE_CONFIG` and :func:`console_router` and calls :func:`install_console` once the session factory is known.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.console.web import PREFIX

HERE = Path(__file__).resolve().parent
SESSION_STORE = "console_sessions"
SESSION_COOKIE = "ipfund_console"
IDLE_TIMEOUT_SECONDS = 30 * 60
SECRET_SETTING = "console_secret"

TEMPLATE_CONFIG = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)



def csrf_config(secret: str) -> CSRFConfig:
    """Litestar's CSRF check, mounted on the console's router only: the bearer-key API (and /health,
    /schema) carry no cookie to forge and stay outside it."""
    return CSRFConfig(secret=secret, cookie_name="ipfund_csrf", cookie_path=PREFIX, cookie_httponly=True,
                      cookie_samesite="strict", exclude=[rf"^{PREFIX}/static/"])


SESSION_CONFIG = ServerSideSessionConfig(
    store=SESSION_STORE,
    key=SESSION_COOKIE,
    max_age=IDLE_TIMEOUT_SECONDS,
    renew_on_access=True,
    httponly=True,
    samesite="strict",
    path=PREFIX,
    exclude=[rf"^{PREFIX}/static/"],
)


def console_router(secret: str) -> Router:
    from api.console.controllers import CONTROLLERS
    from api.console.pages import EXCEPTION_HANDLERS, security_headers

    static = create_static_files_router(path=f"{PREFIX}/static", directories=[HERE / "static"], name="console_static",
                                        include_in_schema=False, opt={"exclude_from_csrf": True})
    console = Router(path=PREFIX, route_handlers=CONTROLLERS, middleware=[SESSION_CONFIG.middleware, DefineMiddleware(CSRFMiddleware, config=csrf_config(secret))],
                     exception_handlers=EXCEPTION_HANDLERS, after_request=security_headers, include_in_schema=False)
    return Router(path="/", route_handlers=[console, static], include_in_schema=False)


def _shared_secret(session_factory) -> str:
    from fund.adapters.db import unit_of_work
    from fund.services.common import get_setting, set_setting

    with unit_of_work(session_factory) as session:
        value = get_setting(session, SECRET_SETTING)
        if value is None:
            value = secrets.token_hex(32)
            set_setting(session, SECRET_SETTING, value)
        return value


def install_console(app: Litestar) -> None:
    """Mount the console on ``app``: its session store over ``app.state.session_factory`` and its
    routes, signed with the database's shared secret (a form from one worker posts to another)."""
    from api.console.i18n import register_plot_languages
    from api.console.store import DatabaseStore

    register_plot_languages()
    app.stores.register(SESSION_STORE, DatabaseStore(app.state.session_factory), allow_override=True)
    app.register(console_router(_shared_secret(app.state.session_factory)))

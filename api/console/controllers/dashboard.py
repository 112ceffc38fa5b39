"""The dashboard: pools, appropriations, leverage, compensation against caps, alerts, the latest
baseline stress run."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from api.console.web import actor, allow, db, page


class DashboardController(Controller):
    path = "/dashboard"

    @get("/", sync_to_thread=True, **allow("officer", "approver", "admin", "reader"))
    def dashboard(self, request: Request) -> Template:
        from fund.services.overview import dashboard

        board = dashboard(db(request), actor(request))
        return page(request, "dashboard.html", "Dashboard", board=board)

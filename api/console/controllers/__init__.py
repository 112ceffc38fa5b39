"""The console's controllers, one module per area; :data:`CONTROLLERS` lists them for the router."""

from __future__ import annotations

from api.console.controllers.auth import AuthController
from api.console.controllers.claims import ClaimsController, ProposalsController
from api.console.controllers.dashboard import DashboardController
from api.console.controllers.loans import LoansController

CONTROLLERS: list[type] = [
    AuthController,
    DashboardController,
    ClaimsController,
    ProposalsController,
    LoansController,
]

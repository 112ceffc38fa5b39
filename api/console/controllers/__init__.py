"""The console's controllers, one module per area; :data:`CONTROLLERS` lists them for the router."""

from __future__ import annotations

from api.console.controllers.admin import AdminController
from api.console.controllers.auth import AuthController
from api.console.controllers.bank import BankController
from api.console.controllers.claims import ClaimsController, ProposalsController
from api.console.controllers.dashboard import DashboardController
from api.console.controllers.ledger import AuditController, LedgerController
from api.console.controllers.loans import LoansController
from api.console.controllers.pool import PoolController
from api.console.controllers.reports import ReportsController
from api.console.controllers.stress import StressController
from api.console.controllers.subsidies import SubsidiesController

CONTROLLERS: list[type] = [
    AuthController,
    DashboardController,
    ClaimsController,
    ProposalsController,
    LoansController,
    SubsidiesController,
    StressController,
    ReportsController,
    LedgerController,
    AuditController,
    AdminController,
    PoolController,
    BankController,
]

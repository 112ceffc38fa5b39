"""The console's controllers, one module per area; :data:`CONTROLLERS` lists them for the router."""

from __future__ import annotations

from api.console.controllers.auth import AuthController

CONTROLLERS: list[type] = [
    AuthController,
]

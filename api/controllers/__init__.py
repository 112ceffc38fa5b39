"""API controllers, one module per area; listed in ``api.app.CONTROLLERS``."""

"""Admin registration for every model, one module per app (Django's autodiscovery imports this package)."""

from backoffice.admin import accounts, gifting, payouts, sandbox, security, wallet

__all__ = ["accounts", "gifting", "payouts", "sandbox", "security", "wallet"]

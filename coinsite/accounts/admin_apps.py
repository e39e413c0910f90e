from django.contrib.admin.apps import AdminConfig


class CoinsiteAdminConfig(AdminConfig):
    """Django admin on CoinsiteAdminSite, so every admin page needs a 2FA-verified session."""

    default_site = "coinsite.accounts.admin_site.CoinsiteAdminSite"

"""Staff groups with least privilege: support, finance and catalogue.

Each group gets exactly the model permissions listed here; `staff_groups_sync` makes the database
match (adds what is missing, removes what is not listed), so it is safe to run again and again:
after every `migrate` (post_migrate, which also follows a test-database flush; wired in
`backoffice.apps`) and by hand with `manage.py staff_groups`. Superusers keep every permission.

Admin still has the last word on money records: their ModelAdmins refuse add, change and delete to
everyone (`backoffice.mixins.ReadOnlyAdminMixin`), so a "change" permission on a money record only
unlocks the admin actions that check it (approving a payout), never the change form.
"""

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

if TYPE_CHECKING:  # only for the annotations: this module is imported while apps load (backoffice.apps)
    from django.contrib.auth.models import Permission

SUPPORT = "support"
FINANCE = "finance"
CATALOGUE = "catalogue"

# Money records and the ledger: viewing them is what support and finance need to answer questions.
_MONEY_RECORDS_VIEW = [
    "wallet.view_ledgeraccount",
    "wallet.view_ledgertransaction",
    "wallet.view_ledgerentry",
    "wallet.view_topup",
    "wallet.view_paymentwebhookevent",
    "gifting.view_giftevent",
    "payouts.view_payout",
    "payouts.view_payoutmethod",
]

GROUP_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: [
        "accounts.view_user",
        "accounts.change_user",  # UserAdmin lets non-superusers change is_active (account freeze) only
        "accounts.view_staffaction",
        "accounts.view_countrychange",
        "accounts.change_countrychange",  # approve / reject actions; the change form stays closed
        "payouts.change_payoutmethod",  # lift a creator's payout hold once the change is checked with them
        "accounts.view_creatorapplication",
        "accounts.change_creatorapplication",  # approve / reject actions; the change form stays closed
        *_MONEY_RECORDS_VIEW,
        "wallet.view_spendingcontrols",
        "wallet.view_country",
        "gifting.view_gift",
        "gifting.view_livestream",
        "gifting.view_creatorprofile",
        "gifting.view_giftingpreferences",
        "gifting.view_chatmessage",
        "gifting.view_chatrestriction",
        "gifting.change_chatrestriction",  # lift a mute or ban early; the change form stays closed
    ],
    FINANCE: [
        "accounts.view_user",
        "accounts.view_staffaction",
        *_MONEY_RECORDS_VIEW,
        "payouts.change_payout",  # approve / reject / retry actions; the change form stays closed
        "wallet.change_topup",  # refund and chargeback actions; the change form stays closed
        "payouts.view_sandboxpayouttransfer",
        "payouts.view_statementrun",
        "payouts.change_statementrun",  # start a month's run by hand; the change form stays closed
        "payouts.change_payoutmethod",  # lift a creator's payout hold; the change form stays closed
        "payouts.view_statementdelivery",
        "wallet.view_ledgerauditrun",
        "wallet.view_economysettings",
        "wallet.change_economysettings",
        "gifting.view_giftingsettings",
        "gifting.change_giftingsettings",
        "payouts.view_payoutsettings",
        "payouts.change_payoutsettings",
        "wallet.view_country",
        "wallet.view_coinpackage",
        "wallet.view_coinpackageprice",
        "wallet.view_coinrate",
        "exchange.view_rate",
        "exchange.add_rate",
        "exchange.change_rate",
        "exchange.view_exchangebackend",
        "exchange.change_exchangebackend",
        "paysandbox.view_sandboxsession",
        "gifting.view_gift",
    ],
    CATALOGUE: [
        "gifting.view_gift",
        "gifting.add_gift",
        "gifting.change_gift",
        "wallet.view_coinpackage",
        "wallet.add_coinpackage",
        "wallet.change_coinpackage",
        "wallet.view_coinpackageprice",
        "wallet.add_coinpackageprice",
        "wallet.change_coinpackageprice",
        "wallet.view_coinrate",
        "wallet.add_coinrate",
        "wallet.change_coinrate",
        "wallet.view_country",
        "wallet.add_country",
        "wallet.change_country",
        "wallet.view_economysettings",
        "gifting.view_giftingsettings",
        "payouts.view_payoutsettings",
    ],
}

# Permissions of the money-operation models (wallet freezes, receivables, adjustments); granted
# once those models exist, skipped silently on a database migrated before them.
OPTIONAL_GROUP_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: [
        "wallet.view_walletfreeze",
        "wallet.add_walletfreeze",
        "wallet.delete_walletfreeze",
        "wallet.view_coinreceivable",
        "wallet.view_adjustment",
    ],
    FINANCE: [
        "wallet.view_adjustment",
        "wallet.add_adjustment",
        "wallet.change_adjustment",
        "wallet.view_coinreceivable",
        "wallet.view_walletfreeze",
    ],
    CATALOGUE: [],
}


def staff_groups_sync(
    *, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS, strict: bool = True
) -> dict[str, int]:
    """Make the three staff groups hold exactly their listed permissions; returns permissions per group.

    With `strict`, a listed (non-optional) permission that does not exist is an error: it means a
    model was renamed and this table went stale. The data migration passes `strict=False` because
    it runs against the migration state of its day.
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    granted = {}
    for name, required in GROUP_PERMISSIONS.items():
        wanted = set(required) | set(OPTIONAL_GROUP_PERMISSIONS.get(name, []))
        permissions = _permissions(permission_model, wanted, using)
        missing = set(required) - set(permissions)
        if missing and strict:
            raise LookupError(f"Staff group {name!r} lists unknown permissions: {', '.join(sorted(missing))}")
        group, _created = group_model.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions.values())
        granted[name] = len(permissions)
    return granted


def _permissions(permission_model: type["Permission"], labels: set[str], using: str) -> dict[str, "Permission"]:
    by_label = {}
    rows = (
        permission_model.objects.using(using)
        .filter(codename__in={label.split(".", 1)[1] for label in labels})
        .select_related("content_type")
    )
    for permission in rows:
        label = f"{permission.content_type.app_label}.{permission.codename}"
        if label in labels:
            by_label[label] = permission
    return by_label


def staff_groups_after_migrate(
    sender: AppConfig, using: str = DEFAULT_DB_ALIAS, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """post_migrate receiver: permissions of every app first (they are created per app, and this
    app's signal may come before the others'), then the groups."""
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=global_apps)  # content types too
    staff_groups_sync(using=using)

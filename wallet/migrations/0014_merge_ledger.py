# Joins two migrations written side by side; no operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0012_ledger_lean_posting"),
        ("wallet", "0013_merge_reversal_notice_and_currencies"),
    ]

    operations = []

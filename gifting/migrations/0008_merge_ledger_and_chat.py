# Joins two migrations written side by side; no operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0007_ledger_lean_posting"),
        ("gifting", "0007_liveroom_chat"),
    ]

    operations = []

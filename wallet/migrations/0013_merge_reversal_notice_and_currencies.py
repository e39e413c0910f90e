# Joins two migrations written side by side (the reversal notice and the supported currencies); no operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0012_newuser1_topup_reversal_notice"),
        ("wallet", "0012_newuser2_supported_currencies"),
    ]

    operations = []

"""An account freeze keeps whether its notice to the user is still due, so a lost task's notice is sent by the sweep
(existing freezes: nothing due). The column keeps a database default: the previous release inserts freezes
without it while the upgrade runs."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0017_emails_unsent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='walletfreeze',
            name='notice_pending',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddIndex(
            model_name='walletfreeze',
            index=models.Index(condition=models.Q(('notice_pending', True)), fields=['frozen_at'], name='wallet_freeze_notice_unsent'),
        ),
    ]

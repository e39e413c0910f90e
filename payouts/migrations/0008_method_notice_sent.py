"""Payout methods record when their security notice was claimed, so a lost task's notice is sent by the sweep.

Methods added before this migration had their notice queued then; which of those tasks were lost cannot be
told now, so they are marked sent rather than announced again, days late.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0007_emails_unsent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='payoutmethod',
            name='notice_sent_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE payouts_payoutmethod SET notice_sent_at = created_at", reverse_sql=migrations.RunSQL.noop
        ),
        migrations.AddIndex(
            model_name='payoutmethod',
            index=models.Index(condition=models.Q(('notice_sent_at__isnull', True)), fields=['created_at'], name='payouts_method_notice_unsent'),
        ),
    ]

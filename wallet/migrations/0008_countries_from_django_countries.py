"""wallet.Country keeps the economics only: its code is a django-countries country (which also names it,
in the viewer's language), so the stored English name goes."""

import coinsite.lib.currencies
import django_countries.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0007_settings_split'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='country',
            options={'ordering': ['code'], 'verbose_name_plural': 'countries'},
        ),
        migrations.RemoveField(
            model_name='country',
            name='name',
        ),
        migrations.AlterField(
            model_name='country',
            name='code',
            field=django_countries.fields.CountryField(help_text='ISO 3166-1 alpha-2, e.g. US.', max_length=2, primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name='country',
            name='currency',
            field=models.CharField(choices=coinsite.lib.currencies.currency_choices, help_text='ISO 4217 code prices are shown and charged in.', max_length=3),
        ),
    ]

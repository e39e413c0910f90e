"""Country codes and names from django-countries; the preferred currency from coinsite.lib.currencies
(one list, seven currencies: KRW is now offered too). Only the choices change, not the data."""

import coinsite.lib.currencies
import django_countries.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_staff_groups'),
    ]

    operations = [
        migrations.AlterField(
            model_name='user',
            name='country',
            field=django_countries.fields.CountryField(default='US', max_length=2),
        ),
        migrations.AlterField(
            model_name='user',
            name='preferred_currency',
            field=models.CharField(choices=coinsite.lib.currencies.currency_choices, default='USD', max_length=3),
        ),
    ]

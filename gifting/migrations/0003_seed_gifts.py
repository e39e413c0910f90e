"""The starting gift catalogue, from a 1-coin Rose to the 44,999-coin Universe.

Staff edit it in admin afterwards; re-running only adds gifts whose slug is missing.
"""

from django.db import migrations

GIFTS = [  # slug, name, coins, tier, countries (empty: everywhere)
    ("rose", "Rose", 1, "small", []),
    ("heart", "Heart", 5, "small", []),
    ("ice-cream", "Ice Cream", 10, "small", []),
    ("coffee", "Coffee", 25, "small", []),
    ("doughnut", "Doughnut", 30, "small", []),
    ("balloon", "Balloon", 49, "small", []),
    ("cherry-blossom", "Cherry Blossom", 88, "small", ["JP"]),
    ("sunglasses", "Sunglasses", 99, "small", []),
    ("confetti", "Confetti", 100, "medium", []),
    ("guitar", "Guitar", 199, "medium", []),
    ("microphone", "Microphone", 299, "medium", []),
    ("crown", "Crown", 499, "medium", []),
    ("trophy", "Trophy", 699, "medium", []),
    ("disco-ball", "Disco Ball", 1_000, "large", []),
    ("fireworks", "Fireworks", 1_500, "large", []),
    ("rocket", "Rocket", 2_999, "large", []),
    ("sports-car", "Sports Car", 7_000, "large", []),
    ("yacht", "Yacht", 15_000, "epic", []),
    ("castle", "Castle", 20_000, "epic", []),
    ("lion", "Lion", 29_999, "epic", []),
    ("universe", "Universe", 44_999, "epic", []),
]


def seed(apps, schema_editor):
    Gift = apps.get_model("gifting", "Gift")
    for order, (slug, name, coins, tier, countries) in enumerate(GIFTS):
        Gift.objects.get_or_create(slug=slug, defaults={
            "name": name, "coin_cost": coins, "tier": tier, "countries": countries,
            "artwork": f"gifts/{slug}.svg", "sort_order": order * 10, "is_active": True})


class Migration(migrations.Migration):

    dependencies = [
        ("gifting", "0002_giftevent_append_only"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]

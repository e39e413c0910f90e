from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark harness (`make bench-live`); it has no models, only management commands."""

    name = "bench"

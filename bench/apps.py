from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed so `manage.py bench_gifts` and `bench_dashboard` exist; it has no models."""

    name = "bench"
    verbose_name = "Benchmarks"

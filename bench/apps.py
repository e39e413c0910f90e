from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed so `manage.py bench_gifts`, `bench_dashboard` and `bench_live` exist; it has no models."""

    name = "bench"
    verbose_name = "Benchmarks"

"""The benchmark harness: `make bench` (gift throughput next to pgbench, and the creator dashboard
with a million gifts) and `make bench-live` (live delivery to thousands of open event streams). It
measures and prints; it never fails on a slow figure. It may import every app; nothing imports it."""

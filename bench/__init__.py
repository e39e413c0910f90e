"""Benchmarks: commands that measure and print figures (never tests, never asserting on time; DESIGN §8)."""

"""The project's Hypothesis profile: every run draws new examples, CI's too (conftest.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st


def _one_run() -> list[int]:
    drawn: list[int] = []

    @settings(max_examples=20, database=None)
    @given(st.integers())
    def probe(value: int) -> None:
        drawn.append(value)

    probe()
    return drawn


def test_each_run_draws_new_examples():
    # Derandomized (Hypothesis's own `ci` profile), both runs would draw the very same 20 integers.
    assert _one_run() != _one_run()


def test_a_failure_prints_how_to_replay_it():
    assert settings.default.print_blob is True
    assert settings.default.derandomize is False

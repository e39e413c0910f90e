"""Staff settings and coin rates are read from the process's own copy, and a staff save reaches every process."""

import pytest
from django.db import connection

from coinsite.lib import singletons
from gifting.models import GiftingSettings
from wallet.models import CoinRate


class CountingCache:
    """Django's cache, counting the reads that reach it."""

    def __init__(self, cache):
        self.cache = cache
        self.gets = 0

    def get(self, key):
        self.gets += 1
        return self.cache.get(key)

    def __getattr__(self, name):
        return getattr(self.cache, name)


@pytest.fixture
def shared_cache(monkeypatch):
    counting = CountingCache(singletons.cache)
    monkeypatch.setattr(singletons, "cache", counting)
    return counting


@pytest.fixture
def clock(monkeypatch):
    """The monotonic clock the process copies are timed by, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(singletons.time, "monotonic", lambda: now[0])
    return now


def threshold_saved_elsewhere(coins: int) -> None:
    """What another process's staff save leaves behind: the new row committed, the shared copy dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {GiftingSettings._meta.db_table} SET gift_confirm_above_coins = %s WHERE id = %s",
            [coins, singletons.SINGLETON_PK],
        )
    singletons.cache.delete(GiftingSettings.cache_key())


@pytest.mark.django_db
def test_repeated_reads_reach_neither_the_shared_cache_nor_the_database(shared_cache, clock, django_assert_num_queries):
    GiftingSettings.load()
    CoinRate.cached_rows()
    reads = shared_cache.gets

    with django_assert_num_queries(0):
        for _ in range(5):
            GiftingSettings.load()
            CoinRate.cached_rows()

    assert shared_cache.gets == reads


@pytest.mark.django_db
def test_a_save_in_this_process_is_read_at_once(clock):
    row = GiftingSettings.load()
    row.gift_confirm_above_coins = 123
    row.save()

    assert GiftingSettings.load().gift_confirm_above_coins == 123


@pytest.mark.django_db
def test_a_save_in_another_process_is_read_once_the_local_copy_expires(clock):
    before = GiftingSettings.load().gift_confirm_above_coins
    threshold_saved_elsewhere(before + 7)

    clock[0] += singletons.LOCAL_SECONDS / 2
    assert GiftingSettings.load().gift_confirm_above_coins == before
    clock[0] += singletons.LOCAL_SECONDS
    assert GiftingSettings.load().gift_confirm_above_coins == before + 7


@pytest.mark.django_db
def test_a_changed_but_unsaved_row_changes_nothing_for_other_readers(clock):
    row = GiftingSettings.load()
    row.gift_confirm_above_coins += 50

    assert GiftingSettings.load().gift_confirm_above_coins == row.gift_confirm_above_coins - 50


@pytest.mark.django_db
def test_a_bulk_update_drops_the_local_copy_of_the_rows(clock):
    rates = CoinRate.cached_rows()
    assert rates, "the data migration creates the per-coin prices"
    CoinRate.objects.filter(pk=rates[0].pk).update(min_coins=rates[0].min_coins + 1)

    fresh = {rate.pk: rate for rate in CoinRate.cached_rows()}
    assert fresh[rates[0].pk].min_coins == rates[0].min_coins + 1


@pytest.mark.django_db
def test_one_value_is_the_loaded_rows_and_follows_a_save(shared_cache, clock, django_assert_num_queries):
    GiftingSettings.load()  # the copies filled
    shared_cache.gets = 0
    with django_assert_num_queries(0):
        assert GiftingSettings.value("gift_confirm_above_coins") == GiftingSettings.load().gift_confirm_above_coins
    assert shared_cache.gets == 0  # the process's own copy, as load()

    row = GiftingSettings.load()
    row.gift_confirm_above_coins += 25
    assert GiftingSettings.value("gift_confirm_above_coins") == row.gift_confirm_above_coins - 25  # unsaved
    row.save()
    assert GiftingSettings.value("gift_confirm_above_coins") == row.gift_confirm_above_coins

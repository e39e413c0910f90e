"""/metrics counts gifts sent through the web and reads the site's figures (coinsite/operations.py)."""

import pytest

from gifting.tests.support import fund, send_form

TOKEN = "metrics-token-0123456789abcdef"


@pytest.mark.django_db
def test_metrics_report_gifts_topups_payouts_queue_and_audit(alice_client, alice, stream, rose, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/10"
    fund(alice, 1_000)
    before = _sample(_metrics(alice_client), 'coinsite_gifts_total{outcome="sent"}')

    send_form(alice_client, stream, rose, key="metrics-gift-1")
    text = _metrics(alice_client)

    assert _sample(text, 'coinsite_gifts_total{outcome="sent"}') == before + 1
    assert "coinsite_gift_seconds_bucket" in text
    assert 'coinsite_scrape_ok{source="database"} 1.0' in text
    assert 'coinsite_scrape_ok{source="broker"} 1.0' in text
    assert 'coinsite_celery_queue_depth{queue="celery"}' in text
    for family in ("coinsite_topups", "coinsite_payouts", "coinsite_ledger_audit_clean", "coinsite_live_connections"):
        assert f"# TYPE {family} gauge" in text


def _metrics(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0

"""The Creator menu is not a dead end for viewers: a viewer applies to become a creator (one open
application at a time), support staff approve it in admin (the user becomes a creator) or reject it with
a reason, and the applicant is emailed either way, once."""

import datetime

import pytest
from django.contrib.admin import helpers
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from backoffice.tests.support import admin_login, make_staff
from coinsite.accounts import creator_applications, emails
from coinsite.accounts.models import CreatorApplication, CreatorApplicationStatus, StaffAction
from coinsite.accounts.tasks import creator_application_emails_sweep
from coinsite.accounts.tests.factories import make_user

Status = CreatorApplicationStatus

pytestmark = pytest.mark.django_db

FORM = {
    "display_name": "Alice Paints",
    "category": "art",
    "description": "Watercolour landscapes, three evenings a week, in English.",
    "link": "https://video.example/alicepaints",
    "rules_accepted": "on",
}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def admin_action(client, action: str, application: CreatorApplication, reason: str):
    return client.post(
        reverse("admin:accounts_creatorapplication_changelist"),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [application.pk], "confirm": "1", "reason": reason},
    )


def test_a_viewer_finds_the_application_form_under_the_creator_menu(alice_client):
    page = alice_client.get(reverse("payouts:index")).content.decode()

    assert "Apply to become a creator" in page
    assert 'action="/creator/apply/"' in page
    for field in ("display_name", "category", "description", "link", "rules_accepted"):
        assert f'name="{field}"' in page


def test_a_viewer_applies_and_sees_the_application_waiting(alice_client, alice):
    response = alice_client.post(reverse("payouts:apply"), FORM)

    assert response["Location"] == reverse("payouts:index")
    application = CreatorApplication.objects.get(user=alice)
    assert (application.display_name, application.category, application.status) == (
        "Alice Paints",
        "art",
        Status.PENDING,
    )
    page = alice_client.get(reverse("payouts:index")).content.decode()
    assert "Waiting for review" in page
    assert 'data-testid="apply-form"' not in page
    alice.refresh_from_db()
    assert alice.is_creator is False


def test_one_open_application_at_a_time(alice_client, alice):
    alice_client.post(reverse("payouts:apply"), FORM)

    again = alice_client.post(reverse("payouts:apply"), {**FORM, "display_name": "Alice Again"})

    assert again.status_code == 400
    assert "waiting for review already" in again.content.decode()
    assert CreatorApplication.objects.filter(user=alice).count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"rules_accepted": ""},
        {"display_name": "   "},
        {"description": ""},
        {"category": "casino"},
        {"link": "http://video.example/alice"},
        {"link": "javascript:alert(1)"},
        {"description": "x" * 1001},
    ],
)
def test_an_incomplete_application_is_refused_and_nothing_is_filed(alice_client, alice, change):
    response = alice_client.post(reverse("payouts:apply"), {**FORM, **change})

    assert response.status_code == 400
    assert not CreatorApplication.objects.exists()


def test_under_eighteen_cannot_apply(client):
    teen = make_user(
        email="teen@example.com", birth_date=datetime.date.today().replace(year=datetime.date.today().year - 16)
    )
    client.force_login(teen)

    response = client.post(reverse("payouts:apply"), FORM)

    assert response.status_code == 400
    assert "Creators must be 18 or older" in response.content.decode()
    assert not CreatorApplication.objects.exists()


def test_support_approve_in_admin_the_user_becomes_a_creator_and_is_emailed(
    client, alice, django_capture_on_commit_callbacks
):
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    support = make_staff(email="sam.support@example.com", group="support")
    admin_login(client, support)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_action(client, "approve", application, reason="Portfolio checked")

    assert response.status_code == 302
    alice.refresh_from_db()
    application.refresh_from_db()
    assert (alice.is_creator, alice.display_name) == (True, "Alice Paints")
    assert (application.status, application.decided_by) == (Status.APPROVED, support)
    assert StaffAction.objects.get(action="creator_application.approved").reason == "Portfolio checked"
    [message] = mail.outbox
    assert message.to == ["alice@example.com"] and message.subject == "You are a Coinsite creator"
    assert "/live/studio/" in message.body or "studio" in message.body
    assert application.emailed_at is not None
    # Now a creator, the Creator menu is the earnings dashboard and the studio opens.
    client.force_login(alice)
    assert "Available" in client.get(reverse("payouts:index")).content.decode()
    assert client.get(reverse("gifting:studio")).status_code == 200


def test_support_reject_with_a_reason_the_applicant_is_told_and_may_apply_again(
    client, alice, django_capture_on_commit_callbacks
):
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    support = make_staff(email="sam.support@example.com", group="support")
    admin_login(client, support)

    with django_capture_on_commit_callbacks(execute=True):
        admin_action(client, "reject", application, reason="Please add a link to your past streams")

    alice.refresh_from_db()
    application.refresh_from_db()
    assert (alice.is_creator, application.status) == (False, Status.REJECTED)
    [message] = mail.outbox
    assert "Please add a link to your past streams" in message.body
    [(html, _mimetype)] = message.alternatives
    assert "Please add a link to your past streams" in html
    client.force_login(alice)
    page = client.get(reverse("payouts:index")).content.decode()
    assert "Not approved" in page and "Please add a link to your past streams" in page
    assert "Apply again" in page
    assert client.post(reverse("payouts:apply"), FORM).status_code == 302
    assert CreatorApplication.objects.filter(user=alice).count() == 2


def test_a_decision_is_made_once_and_only_by_staff(alice, bob):
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    staff = make_staff(email="sam.support@example.com", group="support")

    with pytest.raises(creator_applications.ApplicationError):
        creator_applications.creator_application_approve(application_id=application.pk, staff=bob)
    with pytest.raises(creator_applications.ApplicationError):
        creator_applications.creator_application_reject(application_id=application.pk, staff=staff, reason=" ")
    creator_applications.creator_application_approve(application_id=application.pk, staff=staff)
    with pytest.raises(creator_applications.ApplicationError, match="decided already"):
        creator_applications.creator_application_reject(application_id=application.pk, staff=staff, reason="No")
    assert StaffAction.objects.filter(action__startswith="creator_application").count() == 1


def test_the_decision_email_goes_out_once_even_if_the_task_runs_twice(alice):
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    staff = make_staff(email="sam.support@example.com", group="support")
    creator_applications.creator_application_reject(application_id=application.pk, staff=staff, reason="Not yet")

    emails.creator_application_decided_send(application_id=application.pk)
    emails.creator_application_decided_send(application_id=application.pk)

    assert len(mail.outbox) == 1


def test_a_decision_whose_email_the_broker_refused_is_sent_by_the_sweep(
    client, alice, settings, django_capture_on_commit_callbacks
):
    """The decision is saved even when the broker refuses its email's task at commit (nothing else would send
    it: its claim is taken only by the task); the sweep queues it once it is overdue, and it goes out once."""
    settings.EMAILS_RESEND_AFTER_SECONDS = 600
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    admin_login(client, make_staff(email="sam.support@example.com", group="support"))

    def broker_down(application_id):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    with pytest.MonkeyPatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr("coinsite.accounts.tasks.creator_application_email.delay", broker_down)
        response = admin_action(client, "approve", application, reason="Portfolio checked")
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_creator is True
    assert mail.outbox == []

    def decided_ago(seconds: int) -> None:
        decided_at = timezone.now() - datetime.timedelta(seconds=seconds)
        CreatorApplication.objects.filter(pk=application.pk).update(decided_at=decided_at)

    decided_ago(500)
    assert creator_application_emails_sweep() == 0  # not yet: the task may still be on its way
    decided_ago(700)
    assert creator_application_emails_sweep() == 1

    [message] = mail.outbox
    assert (message.subject, message.to) == ("You are a Coinsite creator", ["alice@example.com"])
    assert creator_application_emails_sweep() == 0
    decided_ago(1300)  # the next age at which an unsent email is due: it was sent, so nothing is
    assert creator_application_emails_sweep() == 0
    assert len(mail.outbox) == 1


def test_the_sweep_leaves_pending_applications_and_stale_decisions(alice):
    pending = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    stale = creator_applications.creator_application_submit(
        user=make_user(email="dora@example.com"), display_name="Dora Builds", category="art", description="Houses"
    )
    CreatorApplication.objects.filter(pk=stale.pk).update(
        status=Status.REJECTED, decided_at=timezone.now() - datetime.timedelta(days=4)
    )
    CreatorApplication.objects.filter(pk=pending.pk).update(submitted_at=timezone.now() - datetime.timedelta(hours=1))

    assert emails.creator_application_emails_unsent() == []
    assert creator_application_emails_sweep() == 0
    assert mail.outbox == []


def test_catalogue_staff_cannot_decide(client, alice):
    application = creator_applications.creator_application_submit(
        user=alice, display_name="Alice Paints", category="art", description="Watercolours"
    )
    catalogue = make_staff(email="cat.catalogue@example.com", group="catalogue")
    admin_login(client, catalogue)

    admin_action(client, "approve", application, reason="ok")

    application.refresh_from_db()
    alice.refresh_from_db()
    assert (application.status, alice.is_creator) == (Status.PENDING, False)


def test_a_creator_is_not_offered_the_application(client, bob):
    client.force_login(bob)

    assert "Apply to become a creator" not in client.get(reverse("payouts:index")).content.decode()
    assert client.post(reverse("payouts:apply"), FORM)["Location"] == reverse("payouts:index")
    assert not CreatorApplication.objects.exists()

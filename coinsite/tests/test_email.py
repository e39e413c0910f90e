"""The one email sender (coinsite/lib/email.py): the HTML alternative is escaped, the text body is not."""

from types import SimpleNamespace

from django.core import mail

from coinsite.lib.email import email_send

NAME = "Ana & O'Brien <3"
NOTE = 'Welcome "on air" & enjoy'


def test_a_text_body_shows_names_and_notes_as_written_and_the_html_escapes_them():
    application = SimpleNamespace(display_name=NAME, decision_reason=NOTE)

    email_send(
        to="ana@example.com",
        subject="Approved",
        template="creator_application_approved",
        context={"application": application, "studio_url": "https://coinsite.example/studio/"},
    )

    [message] = mail.outbox
    assert f"Hi {NAME}," in message.body
    assert f"A note from our team: {NOTE}" in message.body
    assert "&amp;" not in message.body and "&#x27;" not in message.body and "&lt;" not in message.body
    [(html, _)] = message.alternatives
    assert "Ana &amp; O&#x27;Brien &lt;3" in html
    assert NAME not in html

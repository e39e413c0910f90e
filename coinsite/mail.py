"""Development mail backend: print each message and keep a copy under var/mail.

A person running the site locally can open the saved ``.eml`` files (or read the console) to
follow verification and password-reset links.
"""

from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.core.mail.backends.filebased import EmailBackend as FileEmailBackend


class ConsoleAndFileBackend(ConsoleEmailBackend):
    def __init__(self, *, file_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.file_backend = FileEmailBackend(file_path=file_path, **kwargs)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        self.file_backend.send_messages(email_messages)
        return sent

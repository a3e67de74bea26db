"""Sends an `EmailMessage` over SMTP with smtplib, and sorts failures into those worth
retrying (`MailDeferred`) and those that are final (`MailRejected`).

Both carry a short description fit for logs and the notifications table: an error class and
SMTP code, never an address, a name or a password."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from shared.config import Settings


class MailDeferred(Exception):
    """The mail could not be handed over now (no connection, timeout, 4xx): try again later."""


class MailRejected(Exception):
    """The server refused the mail for good (5xx for the sender, recipient or content)."""


# Refusals of these kinds are about this message; other 5xx answers (a refused login, a
# missing STARTTLS) are about our configuration, which an operator can fix, so they retry.
_ABOUT_THE_MESSAGE = (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def describe(exc: BaseException) -> str:
    """A one-line description of a failure without personal data or secrets."""
    if isinstance(exc, MailDeferred | MailRejected):
        return str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _text in exc.recipients.values()})
        return f"SMTPRecipientsRefused: {','.join(map(str, codes))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        # The server's text may quote our addresses back; the code says enough.
        return f"{type(exc).__name__}: {exc.smtp_code}"
    if isinstance(exc, OSError):  # connection refused, timed out, TLS failed: no addresses
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__  # anything else (a database error) may quote row values


def _classify(exc: OSError) -> Exception:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        final = bool(codes) and all(code >= 500 for code in codes)
        return (MailRejected if final else MailDeferred)(describe(exc))
    if isinstance(exc, _ABOUT_THE_MESSAGE) and exc.smtp_code >= 500:
        return MailRejected(describe(exc))
    return MailDeferred(describe(exc))


class SmtpMailer:
    """Hands messages to the SMTP server named in the settings, one connection a message."""

    def __init__(self, settings: Settings):
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._starttls = settings.smtp_starttls
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout

    def __repr__(self) -> str:  # never the password
        return f"SmtpMailer({self._host}:{self._port}, starttls={self._starttls})"

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To/Cc/Bcc recipients; raises MailDeferred or MailRejected."""
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password or "")
                smtp.send_message(message)
        except OSError as exc:  # smtplib.SMTPException is an OSError too
            raise _classify(exc) from None

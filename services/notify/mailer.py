"""Sends an `EmailMessage` over SMTP with smtplib, and sorts failures into those worth
retrying (`MailDeferred`) and those that are final (`MailRejected`).

Both carry a short description fit for logs and the notifications table: an error class and
SMTP code, never an address, a name or a password."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
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


# Refusals of one message, after which smtplib resets the session for the next.
_REFUSALS = (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


def _session_over(exc: OSError) -> bool:
    """The server ended a held session before taking the message (it closed an idle
    connection, or it takes only so many messages a connection: 421 to the envelope)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _text in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code == 421


class SmtpMailer:
    """Hands messages to the SMTP server named in the settings: one connection a message, or,
    within `one_connection()`, one for all the messages sent there (a batch of badge mails
    need not log in a thousand times)."""

    def __init__(self, settings: Settings):
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._starttls = settings.smtp_starttls
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout
        self._holding = 0  # how deep in `one_connection()` we are
        self._held: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password
        return f"SmtpMailer({self._host}:{self._port}, starttls={self._starttls})"

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Send what is sent within over one connection, opened at the first message and
        closed at the end. A message the server refuses leaves it open for the next; any other
        failure drops it, and the next message opens a new one."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding:
                self._drop()

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To/Cc/Bcc recipients; raises MailDeferred or MailRejected."""
        try:
            if not self._holding:
                with self._connect() as smtp:
                    smtp.send_message(message)
                return
            if self._held is not None:
                try:
                    self._held.send_message(message)
                    return
                except OSError as exc:
                    if not _session_over(exc):
                        raise
                    self._drop()  # closed while held, or no more on it: once more on a new one
            self._held = self._connect()
            self._held.send_message(message)
        except OSError as exc:  # smtplib.SMTPException is an OSError too
            if not isinstance(exc, _REFUSALS) or _session_over(exc):
                self._drop()  # in whatever state the session is, the next message starts afresh
            raise _classify(exc) from None

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._user:
                smtp.login(self._user, self._password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _drop(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            held.quit()
        except (OSError, smtplib.SMTPException):  # gone already: nothing to say goodbye to
            held.close()

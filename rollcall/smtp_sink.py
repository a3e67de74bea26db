"""A local SMTP server that keeps every mail it receives as a `.eml` file, for development
and tests. It delivers nothing onward.

    python -m rollcall.smtp_sink    # listens on SMTP_HOST:SMTP_PORT, writes to MAIL_DIR
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from shared.config import Settings

log = logging.getLogger(__name__)


class _StoreHandler:
    def __init__(self, mail_dir: Path):
        self.mail_dir = mail_dir
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def store(self, content: bytes) -> Path:
        """Write one message atomically: readers see a whole file or none."""
        with self._lock:
            number = next(self._counter)
        digest = hashlib.sha256(content).hexdigest()[:12]
        # Sorting the names sorts the mails by arrival; the digest keeps two sinks apart.
        name = f"{time.time_ns()}-{number:06d}-{digest}.eml"
        temporary = self.mail_dir / f".{name}.tmp"
        with open(temporary, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        final = self.mail_dir / name
        os.replace(temporary, final)
        return final

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        path = self.store(content)
        # No addresses, no names: the log only says that a mail came, and where it is.
        log.info("smtp sink: stored %s (%d bytes)", path.name, len(content))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on `host:port` writing each message it receives to `mail_dir`."""

    def __init__(self, mail_dir: Path | str, host: str = "127.0.0.1", port: int = 8025):
        self.mail_dir = Path(mail_dir)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        """Start serving in a background thread; returns self once it accepts connections."""
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        # aiosmtpd logs every sender and recipient address at INFO: keep personal data out.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = Controller(
            _StoreHandler(self.mail_dir),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,  # addresses in any script
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        """The `.eml` files in `mail_dir`, oldest first."""
        return sorted(self.mail_dir.glob("*.eml"))

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def main() -> int:
    """Run the sink until SIGINT or SIGTERM."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sink = SmtpSink(settings.mail_dir, settings.smtp_host, settings.smtp_port).start()
    log.info(
        "smtp sink listening on %s:%d, writing to %s",
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_dir,
    )
    try:
        stop.wait()
    finally:
        sink.stop()
    log.info("smtp sink stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

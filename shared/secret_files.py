"""Secrets a laptop keeps in files (`var/keys/…`) when the environment gives none."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def secret_file(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`, made with `make()` on first use (mode 0600). It is written whole to
    a temporary file and then linked into place, so processes starting at once (gunicorn's
    workers) all read the one that won, never a file still being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as new:
                new.write(make() + "\n")
            with contextlib.suppress(FileExistsError):  # another process got there first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text().strip()

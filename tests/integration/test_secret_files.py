"""Secrets kept in files on a laptop: processes starting at once (gunicorn's workers on a fresh
`var/`) all read one whole secret. A worker once read the key file while another was still
writing it, found it empty and failed to boot."""

from __future__ import annotations

import multiprocessing
import secrets
import stat

import pytest

from shared.secret_files import secret_file

pytestmark = pytest.mark.integration


def _read(path, barrier, results) -> None:
    barrier.wait()
    results.put(secret_file(path, lambda: secrets.token_hex(32)))


@pytest.mark.parametrize("attempt", range(3))
def test_processes_starting_at_once_all_read_the_same_whole_secret(tmp_path, attempt):
    path = tmp_path / "keys" / "manage-link.key"
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(8), spawn.Queue()
    workers = [spawn.Process(target=_read, args=(path, barrier, results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    read = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert len(set(read)) == 1 and len(read[0]) == 64, read
    assert path.read_text() == read[0] + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"


def test_an_existing_secret_is_kept(tmp_path):
    path = tmp_path / "feed.token"
    path.write_text("rc_feed_kept\n")
    assert secret_file(path, lambda: "rc_feed_new") == "rc_feed_kept"

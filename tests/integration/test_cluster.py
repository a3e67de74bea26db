"""rollcall.cluster: the Procfile's processes, replicated, killed and restarted by name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from rollcall.cluster import Cluster, procfile
from tests.support.processes import (
    ROOT,
    descendants,
    free_port,
    running,
    start_redis,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_the_procfile_is_read_name_by_name():
    entries = procfile()
    assert {"registration", "checkin", "notify", "notify_beat", "checkin_worker"} <= set(entries)
    assert entries["registration"].startswith("gunicorn ")


def healthz(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
        return json.loads(answer.read())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replicas_answer_on_ports_of_their_own_and_a_killed_one_comes_back(
    tmp_path, database_url, badge_keys
):
    redis_url, redis = start_redis()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path / "var"),
        "BADGE_SIGNING_KEY": badge_keys[0],
        "BADGE_VERIFY_KEYS": badge_keys[1],
    }
    try:
        only = ["registration", "checkin", "checkin_worker"]
        with Cluster(env, tmp_path / "logs", replicas=2, only=only, web_workers=1) as cluster:
            assert set(cluster.members) == {
                "registration.1", "registration.2", "checkin.1", "checkin.2",
                "checkin_worker.1", "checkin_worker.2",
            }  # fmt: skip
            urls = cluster.urls("registration") + cluster.urls("checkin")
            assert len(set(urls)) == 4
            assert all(healthz(url)["status"] == "ok" for url in urls)
            # Two Celery workers on one queue need node names of their own.
            assert "%h-1" in cluster.members["checkin_worker.1"].command
            assert "%h-2" in cluster.members["checkin_worker.2"].command

            worker = cluster.members["checkin_worker.1"].process.pid
            children = descendants(worker)
            assert children, "the worker's pool has processes"
            cluster.kill("checkin_worker.1")
            # The kernel takes a moment to tear the group down; none may survive it.
            wait_until(lambda: not running([worker, *children]), 10, "the group to be gone")

            cluster.kill("checkin.1", signal.SIGKILL)
            cluster.start("checkin.1")
            cluster.start("checkin_worker.1")
            cluster.wait_ready(60)
            assert healthz(cluster.urls("checkin")[0])["status"] == "ok"
            pids = list(cluster.pids().values())
            everything = pids + [c for p in pids for c in descendants(p)]
        wait_until(lambda: not running(everything), 10, "every process of the cluster to stop")
    finally:
        stop_process(redis)


HOLDER = """
import os, sys, time
from rollcall.cluster import Cluster

env = {**os.environ, "SMTP_PORT": sys.argv[1], "VAR_DIR": sys.argv[2]}
with Cluster(env, sys.argv[3], only=["smtp_sink"], smtp_sink=True) as cluster:
    print(cluster.members["smtp_sink"].process.pid, flush=True)
    time.sleep(600)  # until the test's SIGTERM
"""


def test_a_sigterm_to_the_process_holding_a_cluster_stops_the_clusters_processes(tmp_path):
    # A `timeout` around `rollcall rehearse` once left every process of its system running,
    # without a parent, for the rest of the session.
    args = [str(free_port()), str(tmp_path / "var"), str(tmp_path / "logs")]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        child = int(holder.stdout.readline())
        assert running([child]) == [child]

        holder.send_signal(signal.SIGTERM)

        assert holder.wait(timeout=30) == 128 + signal.SIGTERM
        assert running([child]) == []
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()

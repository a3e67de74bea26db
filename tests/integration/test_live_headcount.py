"""The live headcount stream: checkin served by gunicorn exactly as the Procfile runs it (gthread
workers) streams Server-Sent Events; scans made through another app instance (this test's
process) reach it through Redis, as they would from another replica."""

from __future__ import annotations

import json
import os
import queue
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
import requests

from rollcall import demo
from services.checkin import live
from services.checkin.arrivals import interval_starts
from services.checkin.scanning import event_of
from services.checkin.vips import latest_vips
from shared.config import Settings
from tests.integration.conftest import bearer
from tests.integration.test_checkin_areas import registered
from tests.support.processes import ROOT, free_port, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration

SLUG = demo.FORUM.slug


def procfile_checkin_args() -> list[str]:
    """The options the Procfile runs checkin's gunicorn with (workers, worker class, threads)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("checkin:"):
            argv = shlex.split(line.partition(":")[2])
            options, skip = [], False
            for arg in argv[1:-1]:  # between `gunicorn` and the app
                if skip or arg in {"--bind", "--access-logfile"}:
                    skip = not skip
                    continue
                options.append(arg)
            return options
    raise AssertionError("the Procfile runs no checkin")


@contextmanager
def checkin_on_gunicorn(settings: Settings, log_dir) -> Iterator[str]:
    """checkin as the Procfile serves it, on `settings`' database and Redis; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))}
    env.update(
        VAR_DIR=str(settings.var_dir),
        DATABASE_URL=settings.checkin_database_url,
        REDIS_URL=settings.redis_url,
        BADGE_VERIFY_KEYS=settings.badge_verify_keys,
    )
    log = log_dir / "checkin-gunicorn.log"
    process = start_process(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        + procfile_checkin_args()
        + ["--graceful-timeout", "2", "services.checkin:create_app()"],
        env,
        log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: (
                process.poll() is None
                and requests.get(f"{url}/healthz", timeout=2).status_code == 200
            ),
            timeout=30,
            what=f"checkin on gunicorn (log: {log})",
        )
        yield url
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Event:
    name: str
    data: dict
    at: float  # time.monotonic() when it arrived


class EventStream:
    """A text/event-stream read in a thread; `next()` waits for an event with a deadline."""

    def __init__(self, url: str):
        self.response = requests.get(url, stream=True, timeout=(5, 60))
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line == "":
                    if data:
                        self.events.put(Event(name, json.loads("\n".join(data)), time.monotonic()))
                    name, data = "message", []
                elif line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("event:"):
                    name = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data.append(line.partition(":")[2].strip())
        except Exception:  # closed by the test, or by the server
            pass

    def next(self, name: str, matches=lambda data: True, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching {name!r} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.name == name and matches(event.data):
                return event

    def close(self) -> None:
        # Shut the socket first: that wakes the reader, which close() alone would not.
        connection = getattr(self.response.raw, "connection", None)
        if connection is not None and connection.sock is not None:
            connection.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.response.close()


def ticket(url: str, token: str, slug: str = SLUG) -> requests.Response:
    return requests.post(f"{url}/api/v1/events/{slug}/live/tickets", headers=bearer(token))


@pytest.fixture
def served(forum, tmp_path) -> Iterator[str]:
    forum.replicate()
    with checkin_on_gunicorn(forum.settings, tmp_path) as url:
        yield url


@pytest.fixture
def open_stream(served, forum):
    streams = []

    def open_() -> EventStream:
        answer = ticket(served, forum.organizer_token)
        assert answer.status_code == 201, answer.text
        stream = EventStream(served + answer.json()["stream"])
        assert stream.response.status_code == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        streams.append(stream)
        return stream

    yield open_
    for stream in streams:
        stream.close()


def test_the_stream_sends_the_headcount_at_once_and_again_within_a_second_of_a_scan_elsewhere(
    forum, served, open_stream
):
    _, token = registered(forum, "mayor")
    stream = open_stream()

    first = stream.next("headcount").data
    assert (first["event"], first["inside"], first["arrived"]) == (SLUG, 0, 0)
    assert first["registered"] >= 1 and first["by_area"]["venue"]["capacity"] == 1200
    chart = stream.next("arrivals").data
    assert chart["interval_minutes"] == 10 and len(chart["buckets"]) == 18
    assert sum(b["count"] for b in chart["buckets"]) == 0
    assert stream.next("conflicts").data == {"conflicts": []}

    # Through another app instance (this process), on another database connection: only
    # Redis carries the news to the gunicorn worker that streams.
    answer = forum.scan(token)
    answered = time.monotonic()
    assert answer["result"] == "admitted"
    update = stream.next("headcount", lambda d: d["inside"] == 1, timeout=1.0)
    latency = max(0.0, update.at - answered)
    print(f"\nlive headcount: scan answered → stream showed inside=1 in {latency * 1000:.0f} ms")
    assert update.data["by_area"]["venue"]["inside"] == 1
    assert update.data["by_gate"]["North"]["arrived"] == 1
    chart = stream.next("arrivals", timeout=1.0).data
    assert chart["buckets"][-1]["count"] == 1


def test_gates_stay_fast_while_dashboards_stream_from_the_same_server(forum, served, open_stream):
    _, token = registered(forum, "mayor")
    streams = [open_stream() for _ in range(3)]
    for stream in streams:
        stream.next("headcount")

    started = time.monotonic()
    answer = requests.post(
        f"{served}/api/v1/scans",
        json={"token": token, "direction": "in"},
        headers=bearer(forum.scanner_tokens["South"]),
        timeout=5,
    )
    took = time.monotonic() - started
    print(f"\nscan through the streaming server answered in {took * 1000:.0f} ms")
    assert answer.status_code == 200 and answer.json()["result"] == "admitted"
    assert took < 1.0
    for stream in streams:
        stream.next("headcount", lambda d: d["inside"] == 1, timeout=1.0)


def test_a_ticket_opens_one_stream_once_and_only_for_its_event(forum):
    forum.replicate()  # the organiser's grant reaches checkin
    client = forum.checkin
    made = client.post(f"/api/v1/events/{SLUG}/live/tickets", headers=bearer(forum.organizer_token))
    assert made.status_code == 201
    body = made.get_json()
    assert body["expires_in"] == 60 and body["ticket"] in body["stream"]
    assert forum.organizer_token not in body["stream"]

    elsewhere = client.get(f"/api/v1/events/other-event/live?ticket={body['ticket']}")
    assert elsewhere.status_code == 401  # and the ticket is spent: it is single use

    fresh = client.post(
        f"/api/v1/events/{SLUG}/live/tickets", headers=bearer(forum.organizer_token)
    )
    url = fresh.get_json()["stream"]
    opened = client.get(url, buffered=False)
    assert opened.status_code == 200 and opened.mimetype == "text/event-stream"
    opened.close()
    again = client.get(url)
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "invalid_ticket"


def test_a_bad_or_expired_ticket_is_refused_with_a_json_401(forum):
    forum.replicate()  # the organiser's grant reaches checkin
    client = forum.checkin
    bad = client.get(f"/api/v1/events/{SLUG}/live?ticket=made-up")
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "invalid_ticket"

    made = client.post(f"/api/v1/events/{SLUG}/live/tickets", headers=bearer(forum.organizer_token))
    issued = made.get_json()["ticket"]
    store = redis.Redis.from_url(forum.settings.redis_url)
    key = live._ticket_key(issued)
    assert 0 < store.ttl(key) <= 60
    store.pexpire(key, 1)  # its minute is over
    wait_until(lambda: not store.exists(key), timeout=2, what="the ticket to expire")
    expired = client.get(f"/api/v1/events/{SLUG}/live?ticket={issued}")
    assert expired.status_code == 401
    assert expired.get_json()["error"]["code"] == "invalid_ticket"

    missing = client.get(f"/api/v1/events/{SLUG}/live")
    assert missing.status_code == 422 and "ticket" in missing.get_json()["error"]["fields"]


def test_only_the_events_organiser_gets_a_ticket(forum):
    forum.replicate()
    creds = demo.seed(forum.settings)
    client = forum.checkin
    url = f"/api/v1/events/{SLUG}/live/tickets"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=bearer("rc_org_not-a-token")).status_code == 401
    for device in (creds["scanner_tokens"]["North"], creds["supervisor_token"]):
        refused = client.post(url, headers=bearer(device))
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "forbidden"
    unknown = client.post("/api/v1/events/nope/live/tickets", headers=bearer(forum.organizer_token))
    assert unknown.status_code == 404


def listening(forum, slug: str):
    """A subscription to the event's live channel, confirmed by Redis before it is returned."""
    listener = redis.Redis.from_url(forum.settings.redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(live.CHANNEL.format(slug=slug))
    wait_until(
        lambda: listener.get_message(timeout=0.05) is None and listener.subscribed,
        timeout=2,
        what="the subscription",
    )
    return listener


def test_every_change_of_presence_publishes_a_notice_after_its_commit(forum):
    creds = demo.seed(forum.settings)
    (a, token_a), (b, _), (_, token_c) = (registered(forum, "mayor") for _ in range(3))
    listener = listening(forum, SLUG)

    def notices() -> int:
        count = 0
        while listener.get_message(timeout=0.3) is not None:
            count += 1
        return count

    def post(path: str, body: dict, token: str) -> dict:
        answer = forum.checkin.post(
            f"/api/v1/events/{SLUG}/{path}", json=body, headers=bearer(token)
        )
        assert answer.status_code in (200, 201), answer.get_json()
        return answer.get_json()

    forum.scan(token_a)
    assert notices() == 1
    forum.scan("not-a-badge")  # refused: nothing moved
    assert notices() == 0
    by_hand = post(
        "checkins", {"badge_id": b["badge"]["id"], "reason": "forgot the badge"},
        creds["supervisor_token"],
    )  # fmt: skip
    assert by_hand["result"] == "admitted" and notices() == 1
    post(f"scans/{by_hand['scan_id']}/undo", {"reason": "wrong person"}, forum.organizer_token)
    assert notices() == 1
    start = datetime.now(UTC) - timedelta(minutes=20)
    for gate, minutes in (("North", 0), ("South", 1)):
        queued = {"id": str(uuid.uuid4()), "token": token_c, "direction": "in"}
        queued["scanned_at"] = (start + timedelta(minutes=minutes)).isoformat()
        synced = forum.checkin.post(
            "/api/v1/scans/batch",
            json={"scans": [queued]},
            headers=bearer(creds["scanner_tokens"][gate]),
        )
        assert synced.status_code == 200
    assert notices() == 2
    conflicts = forum.checkin.get(
        f"/api/v1/events/{SLUG}/conflicts?resolved=false", headers=bearer(forum.organizer_token)
    ).get_json()["conflicts"]
    assert len(conflicts) == 1
    post(f"conflicts/{conflicts[0]['id']}/resolve", {"note": "one person"}, forum.organizer_token)
    assert notices() == 1
    closed = post("close-day", {}, forum.organizer_token)
    assert closed["checked_out"] >= 2 and notices() == 1
    listener.close()


def test_a_burst_of_notices_is_coalesced_to_four_recomputes_a_second_and_none_is_lost(
    forum, monkeypatch
):
    monkeypatch.setattr(live, "KEEPALIVE", 0.5)
    channel = live.CHANNEL.format(slug=f"burst-{uuid.uuid4().hex[:8]}")
    store = redis.Redis.from_url(forum.settings.redis_url)
    pubsub = store.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    published = {"n": 0}
    computed: list[float] = []

    def compute() -> dict:
        computed.append(time.monotonic())
        return {"headcount": {"n": published["n"]}}

    def gates() -> None:
        for _ in range(200):  # about 400 scans a second, for half a second
            published["n"] += 1
            store.publish(channel, "changed")
            time.sleep(0.0025)

    burst = threading.Thread(target=gates)
    burst.start()
    frames = list(live.frames(pubsub, compute, lifetime=1.6))
    burst.join()
    pubsub.close()

    sent = [json.loads(f.split("data: ", 1)[1]) for f in frames if f.startswith("event:")]
    assert frames[0].startswith("retry:")
    assert sent[-1] == {"n": 200}  # the last state reached the dashboard
    assert any(f.startswith(": keep-alive") for f in frames)
    gaps = [b - a for a, b in zip(computed, computed[1:], strict=False)]
    assert min(gaps) >= live.MIN_INTERVAL - 0.01, gaps
    assert len(computed) <= 1.6 / live.MIN_INTERVAL + 2


def test_a_rush_of_scans_in_one_process_is_a_few_notices_and_the_last_comes_after_the_last_scan(
    forum,
):
    slug = f"rush-{uuid.uuid4().hex[:8]}"
    listener = listening(forum, slug)
    notices = live.Live(forum.settings.redis_url)
    started = time.monotonic()
    for _ in range(300):  # a rush: three hundred changes as fast as one process makes them
        notices.changed(slug)
    last_change = time.monotonic()
    heard = []
    while listener.get_message(timeout=0.5) is not None:
        heard.append(time.monotonic())
    listener.close()
    allowed = (last_change - started) / live.NOTICE_INTERVAL + 2
    assert 1 <= len(heard) <= allowed, (len(heard), allowed)
    assert heard[-1] >= last_change  # the last change is told, after it happened


def test_the_dashboard_page_is_an_empty_shell_in_either_language(forum):
    forum.replicate()
    client = forum.checkin
    chooser = client.get("/dashboard")
    assert chooser.status_code == 302 and chooser.location.endswith(f"/dashboard/{SLUG}")
    page = client.get(f"/dashboard/{SLUG}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200 and page.headers["Content-Language"] == "zh-Hans"
    html = page.get_data(as_text=True)
    assert "组织者令牌" in html and f"/api/v1/events/{SLUG}/live/tickets" in html
    assert "<script>" not in html  # CSP: only the page's own script files
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    english = client.get(f"/dashboard/{SLUG}?lang=en").get_data(as_text=True)
    assert "Organiser token" in english
    missing = client.get("/dashboard/no-such-event")
    assert missing.status_code == 404 and "Global Mayors" in missing.get_data(as_text=True)


def test_arrival_intervals_are_ten_minutes_aligned_and_end_with_the_current_one():
    now = datetime(2023, 12, 7, 1, 37, 12, tzinfo=UTC)
    starts = interval_starts(now)
    assert len(starts) == 18
    assert starts[-1] == datetime(2023, 12, 7, 1, 30, tzinfo=UTC)
    assert starts[0] == datetime(2023, 12, 6, 22, 40, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=10) for a, b in zip(starts, starts[1:], strict=False))


# --- the latest VIP arrivals -----------------------------------------------------------------


def test_the_stream_sends_the_latest_vip_arrivals_and_a_new_one_within_a_second(
    forum, served, open_stream
):
    mayor, mayor_token = registered(forum, "mayor", given_name="小明", family_name="王")
    _, delegate_token = registered(forum, "delegate", given_name="Ana", family_name="Plain")
    stream = open_stream()
    assert stream.next("vips").data["vips"] == []

    assert forum.scan(delegate_token)["result"] == "admitted"  # not a VIP category
    stream.next("headcount", lambda d: d["inside"] == 1, timeout=1.0)
    answer = forum.scan(mayor_token, gate="South")
    answered = time.monotonic()
    assert answer["result"] == "admitted"
    update = stream.next("vips", lambda d: len(d["vips"]) > 0, timeout=1.0)
    print(
        f"\nvips: scan answered → stream listed the VIP in {(update.at - answered) * 1000:.0f} ms"
    )
    (vip,) = update.data["vips"]
    assert vip["name"] == "王小明" and vip["badge_id"] == mayor["badge"]["id"]
    assert vip["category"] == "mayor" and vip["category_label"]["en"] == "Mayor or governor"
    assert vip["category_label"]["zh"] == "市长或州长"  # the replica's `labels`
    assert (vip["gate"], vip["area"]) == ("South", "Venue")
    local = datetime.fromisoformat(vip["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert vip["local_time"] == f"{local:%H:%M}"
    assert "Plain" not in json.dumps(update.data, ensure_ascii=False)


def test_only_the_days_first_venue_admission_of_a_vip_counts_and_an_undone_one_not(forum):
    creds = demo.seed(forum.settings)
    first, first_token = registered(forum, "mayor", given_name="Első", family_name="Polgármester")
    _, undone_token = registered(forum, "mayor", given_name="Undone", family_name="Mayor")
    _, hall_token = registered(forum, "mayor", given_name="Hall", family_name="Only")
    _, plain_token = registered(forum, "delegate", given_name="Plain", family_name="Delegate")
    assert forum.scan(first_token, gate="North")["result"] == "admitted"
    admitted_at = vips_now(forum)[0]["at"]
    forum.scan(first_token, gate="North", direction="out")
    assert forum.scan(first_token, gate="East")["result"] == "admitted"  # back after lunch
    undone = forum.scan(undone_token)
    answer = forum.checkin.post(
        f"/api/v1/events/{SLUG}/scans/{undone['scan_id']}/undo",
        json={"reason": "wrong person"},
        headers=bearer(forum.organizer_token),
    )
    assert answer.status_code in (200, 201), answer.get_json()
    plenary = forum.checkin.post(
        "/api/v1/scans",
        json={"token": hall_token, "direction": "in"},
        headers=bearer(creds["area_scanner_tokens"]["Plenary"]),
    )
    assert plenary.get_json()["result"] == "admitted"  # a hall door, not the venue
    forum.scan(plain_token)

    listed = vips_now(forum)
    assert [v["name"] for v in listed] == ["Első Polgármester"]
    assert (listed[0]["gate"], listed[0]["at"]) == ("North", admitted_at)
    assert listed[0]["badge_id"] == first["badge"]["id"]


def test_the_vip_list_keeps_the_latest_six_newest_first_and_follows_vip_categories(forum):
    tokens = [registered(forum, "mayor", given_name=f"Mayor{i}")[1] for i in range(8)]
    for token in tokens:
        assert forum.scan(token)["result"] == "admitted"
    listed = vips_now(forum)
    assert [v["name"].split()[0] for v in listed] == [f"Mayor{i}" for i in range(7, 1, -1)]
    assert vips_now(forum, categories=("vip",)) == []


def vips_now(forum, categories=("mayor", "vip")) -> list[dict]:
    with forum.checkin.application.extensions["checkin"].db.reads() as session:
        event = event_of(session, SLUG)
        return latest_vips(session, event, categories, datetime.now(UTC))["vips"]

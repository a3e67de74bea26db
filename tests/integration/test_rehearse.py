"""`rollcall rehearse`: the dress rehearsal on a system of its own (every Procfile process,
real Redis, the SMTP sink), small enough for every run; the forum's full size and the replicas
at that size run under `make test-faults`."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from rollcall.rehearse import drive, report
from rollcall.rehearse.drive import Delegate, Venue, desk_names
from rollcall.rehearse.gates import Outcome
from rollcall.rehearse.morning import Morning, Simulation
from rollcall.rehearse.people import Roster, cities
from rollcall.rehearse.rehearsal import Options, rehearse

pytestmark = pytest.mark.integration
PNG = b"\x89PNG\r\n\x1a\n"


def scripts(text: str) -> set[str]:
    return {unicodedata.name(ch).split()[0] for ch in text if ch.isalpha()}


def test_the_forum_roster_is_realistic_and_the_same_for_the_same_seed():
    people = list(Roster(800, seed=7).people())
    assert people == list(Roster(800, seed=7).people())
    assert people != list(Roster(800, seed=8).people())
    assert len(people) == 800 and len({p.email for p in people}) == 800
    assert len(cities()) == 65 and len({c.country for c in cities()}) == 37
    categories = Counter(p.category for p in people)
    assert categories["mayor"] == 23
    heads = [p for p in people if p.channel == "head"]
    assert len(heads) == 23 and len({p.delegation for p in heads}) == 23
    organisations = {p.organisation for p in people if p.category == "international-organisation"}
    assert len(organisations) == 9
    written = set().union(*(scripts(p.given_name + p.family_name) for p in people))
    assert {"CJK", "HIRAGANA", "HANGUL", "CYRILLIC", "ARABIC", "DEVANAGARI", "GREEK",
            "THAI", "LATIN"} <= written  # fmt: skip
    assert any(re.search(r"[À-ž]", p.given_name + p.family_name) for p in people)  # accents
    assert any(p.city == "广州" and p.language == "zh" for p in people)


def test_a_difference_from_the_simulation_is_a_problem():
    morning = Morning(arrived_at={1: "North", 2: "South"}, inside={1})
    agreeing = {"registered": 5, "arrived": 2, "inside": 1,
                "by_gate": {"North": {"arrived": 1}, "South": {"arrived": 1}}}  # fmt: skip
    assert report.headcount_problems(agreeing, morning, registered=5) == []
    one_more_inside = {**agreeing, "inside": 2}
    assert report.headcount_problems(one_more_inside, morning, 5) == [
        "inside: the system says 2, the simulation 1"
    ]
    wrong_gate = {**agreeing, "by_gate": {"North": {"arrived": 2}, "South": {"arrived": 0}}}
    assert len(report.headcount_problems(wrong_gate, morning, 5)) == 2


def test_a_forgetful_delegate_walks_to_the_desk_with_the_shortest_line():
    venue = Venue("e", "t", {"North": "n", "South": "s"}, {d: d for d in desk_names(3)})
    people = [Delegate(n, f"{n}@example.org", "delegate", n, n, f"T{n}") for n in range(1, 60)]
    simulation = Simulation(None, venue, people, seed=1, speed=60)
    assert simulation.result.lanes == ["North", "South", *desk_names(3)]
    lines = dict(zip(desk_names(3), (2, 0, 1), strict=True))
    for desk, waiting in lines.items():
        for _ in range(waiting):
            simulation.gates[desk].queue.put("someone")
    assert simulation._shortest_desk_line() == "Registration desk 2"
    assert drive.desks_for(800) == 1 and drive.desks_for(20_000) == 10


def test_an_arrival_joins_the_shortest_line_of_the_gates_beside_the_one_they_head_for():
    gates = {name: name for name in drive.gate_names(8)}
    venue = Venue("e", "t", gates, {d: d for d in desk_names(1)})
    people = [Delegate(n, f"{n}@example.org", "delegate", n, n, f"T{n}") for n in range(1, 60)]
    simulation = Simulation(None, venue, people, seed=1, speed=60)
    online = simulation.online  # the entrances but VIP and the one that goes offline
    assert "VIP" not in online and simulation.result.offline_gate not in online
    for name, waiting in zip(online, (3, 1, 2, 0, 4, 4), strict=True):
        for _ in range(waiting):
            simulation.gates[name].queue.put("someone")
    assert simulation._shortest_line_near(online[0]) == online[1]  # 3 ahead there, 1 beside
    assert simulation._shortest_line_near(online[2]) == online[3]  # nobody at the next gate
    assert simulation._shortest_line_near(online[5]) == online[5]  # equal lines: stays
    assert simulation._shortest_line_near("VIP") == "VIP"
    offline = simulation.result.offline_gate
    assert simulation._shortest_line_near(offline) == offline


def test_many_gates_are_drawn_as_a_heat_map_with_their_names(tmp_path):
    gates, desks = drive.gate_names(40), desk_names(12)
    morning = Morning(lanes=gates + desks, desks=desks, offline_gate=gates[-1])
    for n in range(2000):
        lane = (gates + desks)[n % 52]
        morning.passes.append(Outcome(lane, "gate", "in", 3000 + n, 3000 + 2 * n, 0.01, "admitted"))
    report.plot_arrivals(morning, tmp_path / "arrivals.png")
    report.plot_queues(morning, tmp_path / "queues.png")
    for name in ("arrivals.png", "queues.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
    waits = report.queue_minutes(morning)
    assert waits["gate"]["max"] == round(1999 / 60, 1) and waits["desk"]["p50"] == 0


def rehearsed(tmp_path: Path, **options) -> dict:
    outcome = rehearse(Options(out_dir=tmp_path, mail_timeout=120, **options), Console(width=100))
    figures = outcome.report
    assert outcome.ok, figures["problems"]
    assert figures["headcount"] == figures["simulation"]
    assert figures["headcount"]["arrived"] > 0.8 * options["delegates"]
    assert figures["latency"]["scan"]["count"] >= figures["headcount"]["arrived"] // 2
    assert figures["latency"]["offline_sync"]["scans"] > 0
    assert figures["latency"]["desk"]["count"] >= 1
    for plot in outcome.plots:
        assert plot.read_bytes().startswith(PNG) and plot.stat().st_size > 10_000
    assert (outcome.plots[0].parent / "report.json").exists()
    return figures


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_small_rehearsal_matches_its_headcount_and_draws_its_plots(tmp_path, database_url):
    figures = rehearsed(tmp_path, delegates=40, gates=4, desks=2, speed=900, web_workers=1,
                        database_url=database_url)  # fmt: skip
    assert figures["desks"] == 2 and figures["queue_minutes"]["desk"]["max"] >= 0


def requests_served(log: Path, pattern: str) -> int:
    """Requests in a gunicorn access log (`"POST /api/v1/scans" 200 …`, whatever its format)
    whose method and path match `pattern`."""
    return len(re.findall(rf"\b{pattern}", log.read_text()))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_of_everything_share_the_load_and_count_each_delegate_once(tmp_path, database_url):
    figures = rehearsed(
        tmp_path,
        delegates=30,
        gates=3,
        speed=900,
        replicas=2,
        database_url=database_url,
        badges="api",  # the tokens from the badge print list, as the big runs take them
    )
    assert figures["scan_log_checked"]
    logs = tmp_path / figures["event"] / "system" / "logs"
    for replica in (1, 2):
        assert requests_served(logs / f"checkin.{replica}.log", r'POST /api/v1/scans[" ]') > 5
        registrations = requests_served(logs / f"registration.{replica}.log", "POST /api/v1/")
        assert registrations >= 3
        for kind in ("checkin_worker", "notify_worker", "registration_relay", "checkin_relay"):
            assert (logs / f"{kind}.{replica}.log").exists()


@pytest.mark.faults
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("replicas", [1, 2])
def test_the_forum_rehearsed_at_full_size(tmp_path, database_url, replicas):
    rehearsed(tmp_path, delegates=800, gates=4, speed=60, replicas=replicas,
              database_url=database_url)  # fmt: skip


def test_replicas_need_a_database_they_can_share():
    from click.testing import CliRunner

    from rollcall.cli import cli

    answer = CliRunner().invoke(cli, ["rehearse", "--replicas", "2"])
    assert answer.exit_code == 2 and "--database-url" in answer.output

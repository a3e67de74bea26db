"""`make bench` at tiny sizes: one system started as deployed, every section measured and
written as JSON; and a wrong answer at a gate fails the run (the per-answer check is real)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from bench import harness, report, system
from bench.__main__ import parse
from services.checkin.models import ReplicaBadge
from shared import db
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration


def revoke_behind_the_plans_back(system, badges) -> None:
    """The first badge of every connection's plan is revoked after the harness counted it as
    active, so the gate rightly answers `revoked` where the plan says `admitted`."""
    database = db.Database.at(system.settings.checkin_database_url)
    try:
        with database.sessions.begin() as session:
            session.execute(
                update(ReplicaBadge)
                .where(ReplicaBadge.badge_id == badges[0])
                .values(status="revoked", status_reason="bench")
            )
    finally:
        database.engine.dispose()


def test_every_section_is_measured_and_a_wrong_answer_fails_the_run(tmp_path):
    results = harness.run(
        harness.SECTIONS, harness.TINY, "sqlite", tmp_path, before_scan=revoke_behind_the_plans_back
    )
    written = json.loads(report.write_json(results, tmp_path / "results").read_text())

    assert set(harness.SECTIONS) <= set(written)
    assert written["baseline"][0]["requests"] > 0 and written["baseline"][0]["wrong"] == 0
    assert written["scale"]["badges"] == harness.TINY.scale_badges
    assert written["scale"]["runs"][0]["wrong"] == 0
    assert all(mb > 0 for mb in written["scale"]["memory_mb"].values())
    assert written["live"]["stream_ms"]["count"] == harness.TINY.live_scans
    assert written["offline"]["wrong"] == 0
    assert written["registration"]["steady"]["mails"] == written["registration"]["steady"]["sent"]
    assert written["registration"]["burst"]["right"] > 0
    assert written["badges"]["qr_png"]["per_core_second"] > 0
    assert {t["target"] for t in written["targets"]} >= {"≥ 100 QR PNG/s/core"}
    # Where each section's CPU went: the gate's web process answered every scan.
    assert set(written["cpu_s"]) == set(harness.SECTIONS) - {"badges"}
    assert written["cpu_s"]["scan"]["checkin.1"] > 0
    assert written["cpu_s"]["scan"]["machine"] >= written["cpu_s"]["scan"]["checkin.1"]
    assert "redis" in written["cpu_s"]["scan"]  # the servers beside the cluster count too
    line = report.cpu_line("scan", written["cpu_s"]["scan"], written["section_s"]["scan"])
    assert line.startswith("CPU s in scan") and "checkin.1" in line

    # The revoked badge was answered `revoked`, and only the scan section failed for it.
    scan = written["scan"][0]
    assert scan["wrong"] >= 1 and scan["outcomes"].get("revoked", 0) == scan["wrong"]
    assert ", got revoked: " in scan["first_wrong"]
    assert written["failures"] and all(f.startswith("scan c=") for f in written["failures"])


def test_the_cpu_of_a_postgresql_server_on_this_machine_is_counted(postgres):
    postmaster = system._postmaster(postgres)
    assert postmaster is not None and "postgres" in system._command(postmaster)
    before = system._cpu_of_tree(postmaster)
    database = db.Database.at(postgres)
    try:
        with database.engine.connect() as connection:  # a backend of its own, working
            connection.exec_driver_sql("SELECT count(*) FROM generate_series(1, 3000000)")
    finally:
        database.engine.dispose()  # the backend ends: its CPU is the postmaster's children's

    # once the postmaster has reaped it (a moment after the connection closed)
    wait_until(lambda: system._cpu_of_tree(postmaster) - before >= 0.1, 10, "the backend's CPU")
    assert system._postmaster("sqlite:///x.db") is None


def test_the_command_line_takes_sections_sizes_and_a_database():
    args = parse(["--sections", "scan,badges", "--quick", "--database", "sqlite:///x.db"])
    assert args.sections == ("scan", "badges") and args.quick and args.database == "sqlite"
    with pytest.raises(SystemExit):
        parse(["--sections", "scan,warp"])

"""The gate's rule: which verified badges may pass, and the line each answer shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.checkin.admission import (
    AreaRule,
    CategoryRule,
    KnownBadge,
    Result,
    judge,
    message,
    refusal,
    revoked_reason,
)
from services.checkin.presence import ENTER, LEAVE, Movement, replay
from shared.badges import BadgeClaim

pytestmark = pytest.mark.unit

EVENT = 7
CLAIM = BadgeClaim(event_id=EVENT, badge_id=4242, version=2)
ACTIVE = KnownBadge(version=2, status="active")


# --- judge -----------------------------------------------------------------------------------


def test_good_badge_at_its_own_event_passes_to_the_presence_check():
    assert judge(CLAIM, EVENT, ACTIVE) is None


def test_badge_of_another_event_is_wrong_event():
    assert judge(CLAIM, EVENT + 1, ACTIVE) is Result.WRONG_EVENT


def test_gate_without_an_event_turns_every_badge_away_as_wrong_event():
    assert judge(CLAIM, None, ACTIVE) is Result.WRONG_EVENT
    assert judge(CLAIM, None, None) is Result.WRONG_EVENT


def test_badge_the_replica_does_not_know_is_unknown():
    assert judge(CLAIM, EVENT, None) is Result.UNKNOWN


def test_wrong_event_is_reported_before_unknown_badge():
    # A badge of another congress is not "not known yet": the delegate is at the wrong door.
    assert judge(CLAIM, EVENT + 1, None) is Result.WRONG_EVENT


def test_badge_replaced_by_a_reissue_is_revoked():
    assert judge(CLAIM, EVENT, KnownBadge(version=3, status="active")) is Result.REVOKED


@pytest.mark.parametrize("status", ["revoked", "cancelled"])
def test_badge_that_is_no_longer_active_is_revoked(status):
    assert judge(CLAIM, EVENT, KnownBadge(version=2, status=status)) is Result.REVOKED


def test_revoked_status_wins_even_for_a_newer_version_than_the_replica_holds():
    assert judge(CLAIM, EVENT, KnownBadge(version=1, status="revoked")) is Result.REVOKED


def test_reissued_badge_newer_than_the_replica_passes():
    # The signature proves registration issued it; the replica has not caught up yet.
    assert judge(CLAIM, EVENT, KnownBadge(version=1, status="active")) is None


def test_revoked_reason_says_replaced_void_or_revoked_with_the_organisers_reason():
    assert "replaced" in revoked_reason(CLAIM, KnownBadge(version=3, status="active"))
    assert revoked_reason(CLAIM, KnownBadge(version=2, status="void")) == (
        "This badge is void: its registration was cancelled."
    )
    assert revoked_reason(CLAIM, KnownBadge(2, "void", "Personal data erased.")) == (
        "This badge is void: its holder's personal data was erased."
    )
    assert revoked_reason(CLAIM, KnownBadge(2, "revoked", "Lost; a new one was issued.")) == (
        "This badge was revoked: Lost; a new one was issued."
    )
    assert revoked_reason(CLAIM, KnownBadge(version=2, status="revoked")) == (
        "This badge was revoked."
    )


# --- message ---------------------------------------------------------------------------------


def test_already_inside_names_the_time_in_the_events_time_zone_and_the_gate():
    since = datetime(2023, 12, 7, 1, 2, tzinfo=UTC)

    text = message(Result.ALREADY_INSIDE, gate="North", since=since, timezone="Asia/Shanghai")

    assert text == "Already inside since 09:02, North gate."


def test_already_inside_time_is_the_same_moment_whatever_zone_it_was_given_in():
    since = datetime(2023, 12, 7, 9, 2, tzinfo=timezone(timedelta(hours=-6)))  # 15:02 UTC

    text = message(Result.ALREADY_INSIDE, gate="East", since=since, timezone="America/Mexico_City")

    assert text == "Already inside since 09:02, East gate."


def test_already_inside_time_crosses_midnight_into_the_events_day():
    since = datetime(2023, 12, 6, 23, 30, tzinfo=UTC)

    text = message(Result.ALREADY_INSIDE, gate="Hall A", since=since, timezone="Asia/Shanghai")

    assert text == "Already inside since 07:30, Hall A gate."


def test_already_inside_defaults_to_utc():
    since = datetime(2023, 12, 7, 1, 2, tzinfo=UTC)

    assert message(Result.ALREADY_INSIDE, gate="North", since=since) == (
        "Already inside since 01:02, North gate."
    )


def test_already_inside_without_a_time_still_says_so():
    assert message(Result.ALREADY_INSIDE) == "Already inside."


@pytest.mark.parametrize("result", list(Result))
def test_every_result_has_a_message(result):
    text = message(result)

    assert isinstance(text, str)
    assert text.strip()
    assert text.endswith(".")


def test_every_result_has_its_own_message():
    texts = [message(result) for result in Result]

    assert len(set(texts)) == len(texts)


def test_revoked_message_gives_the_reason_when_there_is_one():
    assert message(Result.REVOKED, reason="This badge is cancelled.") == "This badge is cancelled."
    assert message(Result.REVOKED) == "This badge is no longer valid."


# --- passes ----------------------------------------------------------------------------------


def test_only_admitted_and_exited_pass():
    assert {result for result in Result if result.passes} == {Result.ADMITTED, Result.EXITED}


def test_results_are_their_wire_values():
    assert Result("already_inside") is Result.ALREADY_INSIDE
    assert Result.WRONG_EVENT == "wrong_event"


# --- areas -----------------------------------------------------------------------------------

VENUE = AreaRule("venue", "Venue", everyone=True)
LOUNGE = AreaRule("vip-lounge", "VIP lounge")
MEDIA = CategoryRule("media", "Media", frozenset({"venue", "plenary"}))


def test_every_valid_badge_may_enter_an_everyone_area_whatever_its_category():
    assert refusal(VENUE, "media", MEDIA) is None
    assert refusal(VENUE, "ghost", None) is None


def test_a_category_enters_the_areas_it_lists_and_no_other_with_the_reason():
    assert refusal(AreaRule("plenary", "Plenary hall"), "media", MEDIA) is None
    assert refusal(LOUNGE, "media", MEDIA) == "Media may not enter the VIP lounge."


def test_a_category_checkin_does_not_know_is_refused_beyond_the_venue():
    assert "not known here" in refusal(LOUNGE, "ghost", None)


def test_not_allowed_here_shows_the_reason():
    assert message(Result.NOT_ALLOWED_HERE, reason="Media may not enter the VIP lounge.") == (
        "Media may not enter the VIP lounge."
    )


# --- presence, replayed from the log ---------------------------------------------------------

T0 = datetime(2023, 12, 7, 1, 0, tzinfo=UTC)


def move(scan_id: int, kind: str, minutes: int, gate: int = 1) -> Movement:
    return Movement(scan_id, 4242, 1, EVENT, kind, T0 + timedelta(minutes=minutes), gate)


def test_replay_follows_time_not_log_order_and_a_second_entry_changes_nothing():
    moves = [move(3, ENTER, 30, gate=2), move(1, ENTER, 0), move(2, LEAVE, 10)]

    state = replay(moves)[(4242, 1)]

    assert (state.inside, state.first_in_at, state.last_in_at, state.last_gate_id) == (
        True, T0, T0 + timedelta(minutes=30), 2,
    )  # fmt: skip
    assert state.last_out_at == T0 + timedelta(minutes=10)
    doubled = replay([move(1, ENTER, 0), move(2, ENTER, 5, gate=2)])[(4242, 1)]
    assert (doubled.last_in_at, doubled.last_gate_id, doubled.entry_scan_id) == (T0, 1, 1)


def test_an_exit_while_outside_is_no_movement():
    assert replay([move(1, LEAVE, 0)]) == {}


def test_a_log_entry_on_its_way_in_has_exactly_the_scan_logs_columns():
    """A column added to the scan log without its place in LogEntry would go unwritten."""
    from services.checkin.models import Scan
    from services.checkin.scanning import LogEntry

    assert set(LogEntry.__slots__) == {column.key for column in Scan.__table__.columns}

"""Data protection rules: the privacy notice a delegate agrees to (its one text, in English and
Chinese, and its version), how a registration's consent is recorded, and how long an event
keeps personal data. Plain Python: the erasure itself is in `erasure`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.db import utcnow
from shared.errors import Invalid


@dataclass(frozen=True)
class Notice:
    version: str
    text_en: str
    text_zh: str

    def text(self, language: str) -> str:
        return self.text_zh if language == "zh" else self.text_en


# Every version ever shown, oldest first: a registration names the version its delegate agreed
# to, and an export shows that text. Change a text only by adding a new version.
NOTICES = (
    Notice(
        version="2026-11-30",
        text_en=(
            "The organisers of this event use the details you give here (your name, e-mail "
            "address, organisation, city, country, category, language, and any dietary or "
            "accessibility needs) to register you, to issue your badge and check it at the "
            "entrances, and to write to you about this event. Gate staff see only your name "
            "and category when your badge is scanned. Your details are not passed on to anyone "
            "else. With your registration code you can download everything kept about you, or "
            "have it erased, at any time; erasure cancels your badge. After the event, your "
            "personal details are erased automatically once the event's retention period has "
            "passed; only anonymous counts remain."
        ),
        text_zh=(
            "本次活动的主办方将使用您在此填写的信息（姓名、电子邮箱、所属机构、城市、国家或地区、"
            "参会类别、语言，以及饮食或无障碍需求）为您办理报名、签发参会证并在入口核验，"
            "以及就本次活动与您联系。扫描您的参会证时，入口工作人员只能看到您的姓名和参会类别。"
            "您的信息不会提供给任何其他方。您可随时凭报名代码下载我们保存的关于您的全部信息，"
            "或要求删除这些信息；删除后您的参会证即告作废。活动结束后，您的个人信息将在本次活动"
            "规定的保存期限届满时自动删除，仅保留匿名统计数据。"
        ),
    ),
)
NOTICE = NOTICES[-1]
"""The notice shown now, which every new registration agrees to."""

# How a registration came to hold personal data.
BY_DELEGATE = "delegate"  # the delegate agreed to the notice of `consent_version`
BY_ORGANISER = "organiser"  # an organiser entered it (an import): no consent of the delegate's
# The head of the delegate's delegation entered it, confirming the delegate agreed to the
# notice of `consent_version`.
BY_DELEGATION = "delegation"
UNRECORDED = "unrecorded"  # registered before consent was recorded

CONSENT_NEEDED = "Consent is required: agree to the privacy notice to register."


def notice(version: str | None) -> Notice | None:
    return next((n for n in NOTICES if n.version == version), None)


def consent_record(
    organiser: bool, agreed: bool | None, version: str | None, basis: str = BY_DELEGATE
) -> dict:
    """The consent columns of a new registration. A delegate registering (or the head of
    their delegation, `basis` BY_DELEGATION, for them) must agree to the current notice (422
    naming `consent` otherwise); an organiser's entry records none."""
    if organiser:
        return {"consent_basis": BY_ORGANISER, "consent_version": None, "consent_at": None}
    if agreed is not True:
        raise Invalid("validation_failed", CONSENT_NEEDED, {"consent": [CONSENT_NEEDED]})
    if version not in (None, NOTICE.version):
        raise notice_changed()
    return {"consent_basis": basis, "consent_version": NOTICE.version, "consent_at": utcnow()}


def notice_changed() -> Invalid:
    message = (
        f"The privacy notice has changed (it is now version {NOTICE.version}): read it again, "
        "then agree to it."
    )
    return Invalid("validation_failed", message, {"consent_version": [message]})


def kept_until(ends_on: date, retention_days: int | None) -> date | None:
    """The last day an event keeps personal data; None: until the organisers set a period."""
    return None if retention_days is None else ends_on + timedelta(days=retention_days)


def past_retention(
    ends_on: date, retention_days: int | None, timezone: str, now: datetime | None = None
) -> bool:
    """Whether the day after `kept_until` has begun where the event takes place."""
    last = kept_until(ends_on, retention_days)
    if last is None:
        return False
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date() > last

"""Dates as people read them, in English or Simplified Chinese: on badges, pages and mails."""

from __future__ import annotations

from datetime import date

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def event_dates(starts_on: date, ends_on: date, language: str) -> str:
    """The congress's dates as a reader of `language` writes them."""
    if language == "zh":
        start = f"{starts_on.year}年{starts_on.month}月{starts_on.day}日"
        if ends_on == starts_on:
            return start
        if (ends_on.year, ends_on.month) == (starts_on.year, starts_on.month):
            return f"{start}至{ends_on.day}日"
        return f"{start}至{ends_on.year}年{ends_on.month}月{ends_on.day}日"

    def full(d: date) -> str:
        return f"{d.day} {MONTHS[d.month - 1]} {d.year}"

    if ends_on == starts_on:
        return full(starts_on)
    if (ends_on.year, ends_on.month) == (starts_on.year, starts_on.month):
        return f"{starts_on.day}–{full(ends_on)}"
    return f"{full(starts_on)} – {full(ends_on)}"

"""Badges to download and print through the API: the QR PNG and the PDF for a delegate, the
print sheet for organisers; only for those allowed, only for a valid badge."""

from __future__ import annotations

import io

import pypdf
import pytest
import zxingcpp
from PIL import Image

from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration


def test_a_delegate_downloads_their_badge_as_png_and_pdf(forum):
    mayor = forum.register(given_name="小明", family_name="王", organisation="广州市人民政府")
    mine = bearer(mayor["manage_token"])
    url = f"/api/v1/registrations/{mayor['id']}"

    png = forum.registration.get(f"{url}/badge.png", headers=mine)
    pdf = forum.registration.get(f"{url}/badge.pdf?size=lanyard", headers=mine)

    assert png.content_type == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))[0].text
    assert decoded == forum.badge_token(mayor["id"])
    assert pdf.content_type == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "王小明" in text and "Wang Xiaoming" in text and "广州市人民政府" in text


def test_organisers_print_a_sheet_of_every_active_badge(forum):
    for name in ("Ana", "Βασίλης", "Наталья"):
        forum.register(given_name=name)
    forum.register(category="media")  # pending: no badge to print

    sheet = forum.registration.get(
        "/api/v1/events/gmf2023/badges.pdf", headers=bearer(forum.organizer_token)
    )

    assert sheet.status_code == 200
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(sheet.data)).pages)
    assert all(name in text for name in ("Ana", "Βασίλης", "Наталья"))


def test_badges_are_only_for_their_delegate_organisers_and_valid_badges(forum):
    mine, other = forum.register(), forum.register(category="media")
    url = f"/api/v1/registrations/{mine['id']}/badge.pdf"

    assert forum.registration.get(url).status_code == 401
    assert forum.registration.get(url, headers=bearer(other["manage_token"])).status_code == 403
    pending = forum.registration.get(
        f"/api/v1/registrations/{other['id']}/badge.png", headers=bearer(other["manage_token"])
    )
    assert pending.status_code == 409
    sheet = forum.registration.get(
        "/api/v1/events/gmf2023/badges.pdf", headers=bearer(mine["manage_token"])
    )
    assert sheet.status_code == 403


def test_an_empty_print_sheet_is_a_clear_404(forum):
    sheet = forum.registration.get(
        "/api/v1/events/gmf2023/badges.pdf?category=staff", headers=bearer(forum.organizer_token)
    )

    assert sheet.status_code == 404
    assert sheet.get_json()["error"]["code"] == "no_badges"

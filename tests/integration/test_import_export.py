"""An organiser imports an invitation list and takes away the registrations and the badge print
list, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
import csv
import io
import time
import uuid

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from rollcall.importing import import_delegates
from services.registration import exports
from services.registration.bulk_api import MAX_UPLOAD_BYTES
from services.registration.import_jobs import SYNC_ROWS
from shared.badges import verifier_from
from tests.integration.conftest import bearer, delegate

pytestmark = pytest.mark.integration

IMPORTS = "/api/v1/events/gmf2023/imports"
EXPORTS = "/api/v1/events/gmf2023/exports"
HEADERS = ["名", "姓", "邮箱", "单位", "城市", "国家", "类别", "语言"]
FORMULA = '=HYPERLINK("http://x")'


def person(given: str, family: str = "", **fields) -> list[str]:
    row = {
        "email": f"{uuid.uuid4().hex[:10]}@example.org",
        "organisation": "Municipality",
        "city": "Guangzhou",
        "country": "CN",
        "category": "mayor",
        "language": "en",
        **fields,
    }
    return [given, family, *row.values()]


def csv_file(rows: list[list[str]], headers: list[str] = HEADERS) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([headers, *rows])
    return codecs.BOM_UTF8 + out.getvalue().encode()


def xlsx_file(rows: list[list[str]]) -> bytes:
    book = Workbook()
    for row in [HEADERS, *rows]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(forum, content: bytes, name: str = "guests.csv", token: str | None = None, **flags):
    return forum.registration.post(
        IMPORTS,
        data={"file": (io.BytesIO(content), name), **flags},
        headers=bearer(token or forum.organizer_token),
    )


def registrations(forum) -> list[dict]:
    response = forum.registration.get(
        "/api/v1/events/gmf2023/registrations?page_size=100", headers=bearer(forum.organizer_token)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def download(forum, name: str, token: str | None = None):
    return forum.registration.get(
        f"{EXPORTS}/{name}", headers=bearer(token or forum.organizer_token)
    )


def csv_rows(forum, name: str) -> list[dict]:
    response = download(forum, name)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


def xlsx_rows(forum, name: str) -> list[dict]:
    response = download(forum, name)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    headers, *rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    return [dict(zip(headers, row, strict=True)) for row in rows]


@pytest.fixture
def mixed(forum):
    """A list with four good rows, four bad ones, a duplicate within the file and one of a
    delegate who registered already (with other details)."""
    registered = forum.register(given_name="Early", email="early@example.org")
    good = [
        person("小明", "王"),
        person("Σίμος", "Ρούσσος", country="Greece"),
        person("Наталья", "Ким", country="俄罗斯"),
        person("مريم", "الحسيني", country="JO"),
    ]
    bad = [
        person("Bad", "Mail", email="not-an-address"),  # row 6
        person("No", "Country", country="Atlantis"),  # row 7
        person("No", "Category", category="astronaut"),  # row 8
        person("", "Nameless"),  # row 9
        person("Twin", "Row", email=good[0][2].upper()),  # row 10: row 2 again
        person("Early", "Other", email="EARLY@example.org", organisation="Elsewhere"),  # row 11
    ]
    return {"file": csv_file(good + bad), "good": good, "registered": registered}


def test_all_or_nothing_refuses_a_list_with_bad_rows_and_names_every_one(forum, mixed):
    response = upload(forum, mixed["file"])

    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "invalid_rows"
    assert "nothing was imported" in body["error"]["message"]
    assert body["error"]["fields"]["file"][0] == "Row 6, 邮箱: Not a valid email address."
    report = body["error"]["report"]
    assert report["counts"] == {"rows": 10, "created": 0, "unchanged": 0, "failed": 6}
    assert [r["status"] for r in report["rows"]] == ["valid"] * 4 + ["failed"] * 6
    problems = [(r["row"], e["field"], e["column"]) for r in report["rows"] for e in r["errors"]]
    assert problems == [
        (6, "email", "邮箱"),
        (7, "country", "国家"),
        (8, "category", "类别"),
        (9, "given_name", "名"),
        (10, "email", "邮箱"),
        (11, "email", "邮箱"),
    ]
    assert "row 2" in report["rows"][8]["errors"][0]["message"]
    assert str(mixed["registered"]["id"]) in report["rows"][9]["errors"][0]["message"]
    assert [r["id"] for r in registrations(forum)] == [mixed["registered"]["id"]]


def test_valid_only_imports_exactly_the_good_rows_and_again_creates_nothing(forum, mixed):
    first = upload(forum, mixed["file"], mode="valid_only")

    assert first.status_code == 201, first.get_json()
    report = first.get_json()
    assert report["counts"] == {"rows": 10, "created": 4, "unchanged": 0, "failed": 6}
    emails = {r["email"] for r in registrations(forum)}
    assert emails == {row[2] for row in mixed["good"]} | {"early@example.org"}

    again = upload(forum, mixed["file"], mode="valid_only")

    assert again.status_code == 200
    assert again.get_json()["counts"] == {"rows": 10, "created": 0, "unchanged": 4, "failed": 6}
    assert len(registrations(forum)) == 5
    good_only = upload(forum, csv_file(mixed["good"]))  # all or nothing: all there already
    assert (good_only.status_code, good_only.get_json()["counts"]["unchanged"]) == (200, 4)


def test_imported_registrations_are_the_organisers_doing_in_the_audit_trail(forum):
    upload(forum, csv_file([person("小明", "王")]), name="名单.csv")

    audit = forum.registration.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()
    assert [(e["action"], e["actor"]) for e in audit[:2]] == [
        ("delegates.imported", "organiser:owner"),
        ("delegate.registered", "organiser:owner"),
    ]
    assert audit[0]["detail"] == {"file": "名单.csv", "invited": False, "rows": 1, "created": 1,
                                  "unchanged": 0, "failed": 0}  # fmt: skip


def test_invited_rows_skip_approval_and_the_others_await_it(forum):
    media = [person("Lena", "Fischer", category="media")]
    plain = upload(forum, csv_file(media))
    invited = upload(forum, csv_file([person("Tom", "Berg", category="Media")]), invited="true")

    assert plain.get_json()["rows"][0]["registration_status"] == "pending"
    assert invited.get_json()["rows"][0]["registration_status"] == "confirmed"
    forum.replicate()
    confirmed = [e for _t, e in forum.published if e["type"] == "delegate.registered"]
    assert confirmed[-1]["payload"]["badge"] is not None  # the gates know the invited badge


def test_flags_may_come_in_the_query_string(forum):
    response = forum.registration.post(
        f"{IMPORTS}?mode=valid_only&invited=true",
        data={
            "file": (io.BytesIO(csv_file([person("Lena", category="vip"), person("")])), "a.csv")
        },  # fmt: skip
        headers=bearer(forum.organizer_token),
    )

    assert response.status_code == 201
    assert response.get_json()["mode"] == "valid_only"
    assert response.get_json()["rows"][0]["registration_status"] == "confirmed"


NAMES = [("小明", "王", "王小明"), ("Σίμος", "Ρούσσος", "Σίμος Ρούσσος"),
         ("Наталья", "Ким", "Наталья Ким"), ("مريم", "الحسيني", "مريم الحسيني")]  # fmt: skip


def test_names_in_every_script_round_trip_through_import_and_both_exports(forum):
    content = xlsx_file([person(given, family) for given, family, _shown in NAMES])
    assert upload(forum, content, name="guests.xlsx").status_code == 201

    for name in ("registrations.csv", "registrations.xlsx"):
        rows = (csv_rows if name.endswith("csv") else xlsx_rows)(forum, name)
        assert [(r["Given name"], r["Family name"], r["Display name"]) for r in rows] == NAMES
        assert {(r["Status"], r["Badge status"], str(r["Badge version"])) for r in rows} == {
            ("confirmed", "active", "1")
        }
    for name in ("badges.csv", "badges.xlsx"):
        rows = (csv_rows if name.endswith("csv") else xlsx_rows)(forum, name)
        assert sorted(r["Display name"] for r in rows) == sorted(n[2] for n in NAMES)
        latin = {r["Display name"]: r["Latin name"] or "" for r in rows}
        assert latin["王小明"] == "Wang Xiaoming"
        assert latin["Наталья Ким"] == "Natalya Kim"
        # The text of each badge's QR code, for a print shop: the signed token a gate admits.
        for row in rows:
            claim = verifier_from(forum.settings).verify(row["QR code"])
            assert (claim.badge_id, claim.version) == (int(row["Badge ID"]), 1)


def test_an_exported_list_imports_again_as_unchanged(forum):
    upload(forum, csv_file([person(g, f) for g, f, _ in NAMES] + [person(FORMULA, "X")]))
    exported = download(forum, "registrations.csv").data

    again = upload(forum, exported, name="edited.csv")

    assert again.status_code == 200, again.get_json()
    assert again.get_json()["counts"] == {"rows": 5, "created": 0, "unchanged": 5, "failed": 0}


def test_a_name_that_is_a_formula_is_neutralised_in_every_export(forum):
    upload(forum, csv_file([person(FORMULA, "Smith", organisation="@SUM(1)", city="+1")]))

    for name in ("registrations.csv", "registrations.xlsx", "badges.csv", "badges.xlsx"):
        rows = (csv_rows if name.endswith("csv") else xlsx_rows)(forum, name)
        assert rows[0]["Display name"] == "'" + FORMULA + " Smith", name
        assert (rows[0]["Organisation"], rows[0]["City"]) == ("'@SUM(1)", "'+1"), name
    assert registrations(forum)[0]["given_name"] == FORMULA  # stored as written


def test_exports_are_downloads_with_a_safe_name_and_type(forum):
    forum.register()
    for name, content_type in [("registrations.csv", "text/csv; charset=utf-8"),
                               ("badges.xlsx", exports.FORMATS["xlsx"])]:  # fmt: skip
        response = download(forum, name)
        assert response.headers["Content-Type"] == content_type
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="gmf2023-')
        assert disposition.endswith(f'.{name.split(".")[1]}"')
        assert disposition.isascii()
        assert response.headers["Cache-Control"] == "no-store"
    assert download(forum, "registrations.pdf").status_code == 404


def test_only_this_events_organisers_import_and_export(forum):
    other = forum.registration.post(
        "/api/v1/events",
        json={"slug": "other-forum", "name": "Other", "venue": "Hall", "timezone": "UTC",
              "starts_on": "2024-01-01", "ends_on": "2024-01-02",
              "categories": [{"code": "mayor", "label": "Mayor"}]},
        headers=bearer(forum.organizer_token),
    ).get_json()["organizer_token"]  # fmt: skip
    manage = forum.register()["manage_token"]

    for name in ("registrations.csv", "registrations.xlsx", "badges.csv", "badges.xlsx"):
        assert forum.registration.get(f"{EXPORTS}/{name}").status_code == 401
        assert download(forum, name, token="rc_org_unknown").status_code == 401
        assert download(forum, name, token=other).status_code == 403
        assert download(forum, name, token=manage).status_code == 403
    content = csv_file([person("Ana")])
    assert (
        forum.registration.post(IMPORTS, data={"file": (io.BytesIO(content), "a.csv")}).status_code
        == 401
    )
    assert upload(forum, content, token=other).status_code == 403
    assert upload(forum, content, token=manage).status_code == 403
    assert len(registrations(forum)) == 1


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), 415, "unsupported_file"),
        ("名,邮箱\n王,w@example.cn\n".encode("gb18030"), 415, "unsupported_file"),
        (b"just some words\n", 422, "no_header_row"),
    ],
    ids=["png", "gbk-csv", "not-a-list"],  # too many rows: test_import_jobs.py
)
def test_a_file_that_is_not_a_list_is_refused_in_the_json_shape(forum, content, status, code):
    response = upload(forum, content)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_a_file_over_the_size_limit_is_refused_unread(forum):
    # The body is made here: the test client spools a big upload to a file it never closes.
    boundary = "rollcall-test"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{'x' * MAX_UPLOAD_BYTES}\r\n--{boundary}--\r\n"
    )
    response = forum.registration.post(
        IMPORTS,
        data=body.encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=bearer(forum.organizer_token),
    )

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_an_upload_without_a_file_and_multipart_to_json_endpoints_are_refused(forum):
    no_file = forum.registration.post(
        IMPORTS,
        data={"mode": "valid_only"},
        content_type="multipart/form-data",
        headers=bearer(forum.organizer_token),
    )
    multipart = forum.registration.post(
        "/api/v1/events/gmf2023/registrations",
        data={"file": (io.BytesIO(b"x"), "a.csv"), **delegate()},
    )

    text = forum.registration.post(
        IMPORTS,
        data={"file": "given_name,email"},
        content_type="multipart/form-data",
        headers=bearer(forum.organizer_token),
    )

    assert (no_file.status_code, list(no_file.get_json()["error"]["fields"])) == (422, ["file"])
    assert text.get_json()["error"]["fields"] == {"file": ["Send a file here, not text."]}
    assert multipart.status_code == 415


def test_the_most_rows_imported_within_the_request_take_reasonable_time(forum):
    rows = [person(f"Delegate {i}", "Test", category="delegate") for i in range(SYNC_ROWS)]
    started = time.perf_counter()

    response = upload(forum, csv_file(rows))

    elapsed = time.perf_counter() - started
    assert response.status_code == 201
    assert response.get_json()["counts"]["created"] == SYNC_ROWS
    assert elapsed < 30, f"{SYNC_ROWS} rows took {elapsed:.1f} s"


def test_the_command_line_import_shows_progress_and_writes_the_report(forum, tmp_path):
    path = tmp_path / "guests.csv"
    path.write_bytes(csv_file([person("小明", "王", category="media"), person("", "X")]))
    env = {"DATABASE_URL": forum.settings.registration_database_url,
           "VAR_DIR": str(forum.settings.var_dir),
           "BADGE_SIGNING_KEY": forum.settings.badge_signing_key}  # fmt: skip
    command = [str(path), "--event", "gmf2023", "--invited", "--report", str(tmp_path / "r.json")]

    refused = CliRunner().invoke(import_delegates, command, env=env)
    imported = CliRunner().invoke(import_delegates, [*command, "--valid-only"], env=env)

    assert refused.exit_code == 1, refused.output
    assert "nothing was imported" in refused.output
    assert imported.exit_code == 1, imported.output  # one row failed, the other is in
    assert "2 rows: 1 created, 0 unchanged, 1 failed" in imported.output
    assert [r["status"] for r in registrations(forum)] == ["confirmed"]
    assert '"created": 1' in (tmp_path / "r.json").read_text()

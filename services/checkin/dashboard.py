"""The organisers' live headcount page, `/dashboard/<slug>`: made for a projector at the back of
the hall, usable on a laptop. The HTML holds no figures and no personal data; its script signs
in with the organiser token (kept for the tab only), trades it for a stream ticket and shows
what the live stream (`services.checkin.live`) pushes. English and Simplified Chinese.

The latest VIP arrivals show names: the protocol office asked for them, and the page is an
organiser's. A "hide names" switch (kept in sessionStorage, for the tab) shows category, gate and
time only, for a projector in a room where names should not be on the wall.

A plain Flask blueprint, so the page stays out of the OpenAPI document."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from services.checkin import resources
from services.checkin.models import ReplicaCategory, ReplicaEvent
from services.checkin.vips import category_labels

bp = Blueprint("dashboard", __name__)

HTML_LANG = {"en": "en", "zh": "zh-Hans"}
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}

TEXT = {
    "en": {
        "title": "Live headcount",
        "choose": "Choose the event",
        "no_events": "There is no event here yet.",
        "sign_in": "Sign in",
        "sign_in_intro": "Enter the organiser token of this event. It is kept in this browser "
        "tab only, and forgotten when the tab closes.",
        "token": "Organiser token",
        "sign_out": "Sign out",
        "noscript": "This page needs JavaScript.",
        "language_nav": "Language",
        "live": "Live",
        "connecting": "Connecting…",
        "reconnecting": "Reconnecting…",
        "inside": "Inside now",
        "arrived": "Arrived",
        "registered": "Registered",
        "of_registered": "{share} of registered",
        "areas": "Areas",
        "gates": "Gates",
        "categories": "Categories",
        "countries": "Countries and regions",
        "top": "top {n}",
        "no_capacity": "no capacity set",
        "ok": "",
        "warning": "Nearly full",
        "alarm": "FULL",
        "alarm_banner": "{area} is at capacity: {inside} inside, capacity {capacity}.",
        "warning_banner": "{area} is nearly full: {inside} of {capacity}.",
        "left": "{n} left",
        "column_name": "Name",
        "column_inside": "Inside",
        "column_arrived": "Arrived",
        "column_registered": "Registered",
        "nothing_yet": "No arrivals yet.",
        "arrivals_chart": "Arrivals per 10 minutes",
        "chart_summary": "Arrivals per 10 minutes over the last 3 hours: {now} since {time}, "
        "at most {peak}.",
        "conflicts": "Offline-sync conflicts",
        "no_conflicts": "No open conflicts.",
        "conflict_line": "{name} ({badge}) · {area}",
        "conflict_detail": "Admitted at {winner_gate} {winner_time}; admitted again at "
        "{loser_gate} {loser_time} while inside.",
        "offline": "offline",
        "resolve": "Resolve",
        "note": "Note",
        "note_hint": "What was found (required).",
        "confirm_resolve": "Mark resolved",
        "cancel": "Cancel",
        "updated": "Updated {time}",
        "error_token": "This token is not valid.",
        "error_role": "This is not an organiser token of this event.",
        "error_network": "The server could not be reached. Trying again…",
        "error_action": "That did not work. Please try again.",
        "vips": "VIP arrivals today",
        "no_vips": "No VIP arrivals yet today.",
        "hide_names": "Hide names",
        "name_hidden": "Name hidden",
        "desk": "Organisers' desk",
        "vip_place": "{gate} · {area}",
    },
    "zh": {
        "title": "实时人数",
        "choose": "选择活动",
        "no_events": "这里还没有活动。",
        "sign_in": "登录",
        "sign_in_intro": "请输入本活动的组织者令牌。令牌只保存在此浏览器标签页中，"
        "关闭标签页即清除。",
        "token": "组织者令牌",
        "sign_out": "退出",
        "noscript": "此页面需要启用 JavaScript。",
        "language_nav": "语言",
        "live": "实时",
        "connecting": "正在连接…",
        "reconnecting": "正在重新连接…",
        "inside": "当前在场",
        "arrived": "已到达",
        "registered": "已注册",
        "of_registered": "占注册人数 {share}",
        "areas": "区域",
        "gates": "入口",
        "categories": "类别",
        "countries": "国家和地区",
        "top": "前 {n} 名",
        "no_capacity": "未设容量",
        "ok": "",
        "warning": "接近满员",
        "alarm": "已满员",
        "alarm_banner": "{area} 已满员：在场 {inside} 人，容量 {capacity} 人。",
        "warning_banner": "{area} 接近满员：{inside} / {capacity}。",
        "left": "已离开 {n} 人",
        "column_name": "名称",
        "column_inside": "在场",
        "column_arrived": "已到达",
        "column_registered": "已注册",
        "nothing_yet": "尚无人到达。",
        "arrivals_chart": "每 10 分钟到达人数",
        "chart_summary": "过去 3 小时每 10 分钟到达人数：{time} 起 {now} 人，最多 {peak} 人。",
        "conflicts": "离线同步冲突",
        "no_conflicts": "没有待处理的冲突。",
        "conflict_line": "{name}（{badge}）· {area}",
        "conflict_detail": "{winner_time} 于{winner_gate}入场；"
        "{loser_time} 在场期间又于{loser_gate}入场。",
        "offline": "离线",
        "resolve": "处理",
        "note": "备注",
        "note_hint": "处理情况（必填）。",
        "confirm_resolve": "标记为已处理",
        "cancel": "取消",
        "updated": "更新于 {time}",
        "error_token": "此令牌无效。",
        "error_role": "这不是本活动的组织者令牌。",
        "error_network": "无法连接服务器，正在重试…",
        "error_action": "操作未成功，请重试。",
        "vips": "今日贵宾到达",
        "no_vips": "今天还没有贵宾到达。",
        "hide_names": "隐藏姓名",
        "name_hidden": "姓名已隐藏",
        "desk": "组织者服务台",
        "vip_place": "{gate} · {area}",
    },
}


def page_language() -> str:
    """`?lang=` when asked for, else the browser's preference, else English."""
    asked = request.args.get("lang", "")
    if asked in TEXT:
        return asked
    return request.accept_languages.best_match(list(TEXT), default="en")


@bp.get("/dashboard")
def choose():
    """The events of this checkin: straight to the only one, else a list to choose from."""
    lang = page_language()
    with resources().db.reads() as session:
        events = [
            (e.slug, e.name)
            for e in session.scalars(select(ReplicaEvent).order_by(ReplicaEvent.name))
        ]
    if len(events) == 1:
        return redirect(url_for(".dashboard", slug=events[0][0], **_lang_arg()))
    page = render_template("dashboard/choose.html", **_common(lang), events=events)
    return _localised(page, 200, lang)


@bp.get("/dashboard/<slug>")
def dashboard(slug: str):
    lang = page_language()
    with resources().db.reads() as session:
        event = session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))
        if event is None:
            events = [(e.slug, e.name) for e in session.scalars(select(ReplicaEvent))]
            page = render_template("dashboard/choose.html", **_common(lang), events=events)
            return _localised(page, 404, lang)
        page_data = {
            "text": TEXT,
            "lang": lang,
            "event": {"slug": event.slug, "name": event.name, "timezone": event.timezone},
            # code → {"en": …, "zh": …}: the page switches language without a reload
            "categories": {
                c.code: category_labels(c, c.code)
                for c in session.scalars(
                    select(ReplicaCategory).where(ReplicaCategory.event_id == event.id)
                )
            },
            "api": {
                "ticket": url_for("checkin_live.issue_ticket", slug=slug),
                # + "/<id>/resolve"
                "conflicts": url_for("checkin_desk.list_conflicts", slug=slug),
            },
        }
        page = render_template(
            "dashboard/page.html", **_common(lang), event=event, page_data=page_data
        )
    return _localised(page, 200, lang)


def _lang_arg() -> dict:
    return {"lang": request.args["lang"]} if request.args.get("lang") in TEXT else {}


def _common(lang: str) -> dict:
    return {
        "lang": lang,
        "t": TEXT[lang],
        "html_lang": HTML_LANG,
        "language_names": LANGUAGE_NAMES,
        "asset": asset_url,
    }


def _localised(page: str, status: int, lang: str):
    response = current_app.make_response((page, status))
    response.headers["Content-Language"] = HTML_LANG[lang]
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept-Language")
    return response


def asset_url(filename: str) -> str:
    """A static file's URL with its content's hash, so a new release is never cached stale."""
    return url_for("static", filename=f"dashboard/{filename}", v=_digest(filename))


@cache
def _digest(filename: str) -> str:
    folder = Path(__file__).parent / "static" / "dashboard"
    return hashlib.sha256((folder / filename).read_bytes()).hexdigest()[:12]

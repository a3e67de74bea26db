"""The gate's scanner page (`/scan`), for a phone or a laptop: sign in with the device's scanner
token, then scan badges with the camera or a keyboard-wedge barcode reader and get a huge green
or red answer. When the network fails the page judges badges itself (the Ed25519 signature and
the cached offline list), queues the scans and syncs them later (POST /api/v1/scans/batch).

A plain Flask blueprint, so the page stays out of the OpenAPI document. The HTML is the same
for every device and holds no token and no personal data: the script keeps the token in the
device's localStorage and asks the JSON API with it. A service worker (`/scan/sw.js`, scope
`/scan`) keeps the page and its assets so it reloads without a network."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, url_for

bp = Blueprint(
    "scan_page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/scan/assets",
)

SCOPE = "/scan"
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}  # each in its own language
# What the service worker keeps for a reload offline (the page itself too).
SHELL_ASSETS = (
    "scan/scan.css",
    "scan/icon.svg",
    "vendor/jsqr/jsQR.js",
    "scan/store.js",
    "scan/verify.js",
    "scan/camera.js",
    "scan/scan.js",
)
# The page needs nothing from elsewhere; the camera stream is attached as an object, which the
# policy does not govern.
CSP = "default-src 'self'; frame-ancestors 'none'"

TEXT = {
    "en": {
        "page_title": "Gate scanner",
        "language_nav": "Language",
        "noscript": "The scanner needs JavaScript. Please turn it on.",
        "sign_in_title": "Sign in this device",
        "sign_in_intro": "Paste or type the scanner token you were given for this gate. It is "
        "kept on this device until you sign out.",
        "token_label": "Scanner token",
        "token_hint": "It begins with rc_scn_.",
        "sign_in": "Sign in",
        "signing_in": "Signing in…",
        "sign_out": "Sign out",
        "sign_out_confirm": "Sign out? {n} scans not yet synced will be lost.",
        "token_required": "Enter the scanner token.",
        "token_rejected": "This token is not valid here. Check it, or ask the organisers for a "
        "new one.",
        "token_unreachable": "The server could not be reached. Check the connection and try again.",
        "device": "{gate} gate · {area}",
        "direction": "Direction",
        "direction_in": "In",
        "direction_out": "Out",
        "area": "Area",
        "area_own": "{name} (this gate)",
        "camera_start": "Camera on",
        "camera_stop": "Camera off",
        "camera_label": "Camera view: hold the badge's QR code in front of the camera.",
        "camera_unavailable": "No camera available here. Use a barcode scanner or type the code.",
        "camera_denied": "The camera is blocked. Allow it in the browser's settings, or use a "
        "barcode scanner.",
        "code_label": "Badge code",
        "code_hint": "A barcode scanner types here; you can also type or paste a code and press "
        "Enter.",
        "check": "Check",
        "ready": "Ready",
        "ready_hint": "Scan a badge.",
        "checking": "Checking…",
        "online": "Online",
        "offline": "Offline: badges are checked on this device",
        "offline_tag": "offline",
        "waiting": "{n} scans waiting to sync",
        "waiting_one": "1 scan waiting to sync",
        "waiting_none": "All scans synced",
        "sync_now": "Sync now",
        "syncing": "Syncing…",
        "synced": "{n} scans synced.",
        "sync_failed": "Sync failed; it will be retried.",
        "list_age": "Offline badge list: {n}, updated {time}",
        "list_missing": "No badge list on this device yet: offline checks are not possible.",
        "sound_on": "Sound on",
        "sound_off": "Sound off",
        "recent": "Recent scans",
        "verdicts": "Synced scans the server judged otherwise",
        "verdict_line": "{time} {name}: {local} offline, {server} by the server. {message}",
        "conflict": "Conflict #{id}: a supervisor will see it on the dashboard.",
        "error_generic": "The scan did not go through: {message}",
        "unknown_name": "Unknown badge",
        # The big word on the panel, per result.
        "result_admitted": "Admitted",
        "result_exited": "Exit recorded",
        "result_already_inside": "Already inside",
        "result_not_inside": "Not inside",
        "result_invalid": "Invalid badge",
        "result_unknown": "Unknown badge",
        "result_revoked": "Badge not valid",
        "result_wrong_event": "Wrong event",
        "result_not_allowed_here": "Not allowed here",
        "result_unchecked": "Not checked",
        "result_error": "Not checked",
        # The line under it, where the server's own message is not shown.
        "message_already_inside": "Already inside since {time}, {gate} gate.",
        "message_already_inside_hand": "Already inside since {time}, checked in by hand.",
        "message_admitted": "Welcome.",
        "message_exited": "Goodbye.",
        "message_not_inside": "This badge is not inside: it cannot leave.",
        "message_invalid": "Not a valid badge: the code is damaged or forged.",
        "message_unknown": "This badge is not known here yet.",
        "message_revoked": "This badge is no longer valid.",
        "message_replaced": "This badge was replaced by a reissued one.",
        "message_wrong_event": "This badge is for another event.",
        "message_not_allowed_here": "{category} may not enter the {area}.",
        "announce": "{result}. {name} {category}. {message}",
    },
    "zh": {
        "page_title": "入口扫码",
        "language_nav": "语言",
        "noscript": "扫码页面需要启用 JavaScript，请启用后重试。",
        "sign_in_title": "登录本设备",
        "sign_in_intro": "请粘贴或输入为本入口分配的扫码令牌。令牌将保存在本设备上，直至退出登录。",
        "token_label": "扫码令牌",
        "token_hint": "以 rc_scn_ 开头。",
        "sign_in": "登录",
        "signing_in": "正在登录…",
        "sign_out": "退出登录",
        "sign_out_confirm": "确定退出登录吗？尚未同步的 {n} 条扫码记录将会丢失。",
        "token_required": "请输入扫码令牌。",
        "token_rejected": "此令牌在此无效。请核对，或向主办方申请新的令牌。",
        "token_unreachable": "无法连接服务器，请检查网络后重试。",
        "device": "{gate} 入口 · {area}",
        "direction": "方向",
        "direction_in": "进场",
        "direction_out": "离场",
        "area": "区域",
        "area_own": "{name}（本入口）",
        "camera_start": "打开摄像头",
        "camera_stop": "关闭摄像头",
        "camera_label": "摄像头画面：请将参会证二维码对准摄像头。",
        "camera_unavailable": "此设备没有可用的摄像头。请使用扫码枪或手动输入代码。",
        "camera_denied": "摄像头已被禁用。请在浏览器设置中允许使用，或改用扫码枪。",
        "code_label": "参会证代码",
        "code_hint": "扫码枪会在此输入；也可手动输入或粘贴代码后按回车键。",
        "check": "核验",
        "ready": "就绪",
        "ready_hint": "请扫描参会证。",
        "checking": "正在核验…",
        "online": "在线",
        "offline": "离线：在本设备上核验参会证",
        "offline_tag": "离线",
        "waiting": "{n} 条扫码记录待同步",
        "waiting_one": "1 条扫码记录待同步",
        "waiting_none": "扫码记录已全部同步",
        "sync_now": "立即同步",
        "syncing": "正在同步…",
        "synced": "已同步 {n} 条扫码记录。",
        "sync_failed": "同步失败，稍后将自动重试。",
        "list_age": "离线参会证名单：{n} 张，{time} 更新",
        "list_missing": "本设备尚无参会证名单，无法离线核验。",
        "sound_on": "声音：开",
        "sound_off": "声音：关",
        "recent": "最近扫码",
        "verdicts": "服务器判定不同的已同步扫码",
        "verdict_line": "{time} {name}：离线判定为“{local}”，服务器判定为“{server}”。{message}",
        "conflict": "冲突 #{id}：主管将在看板上看到。",
        "error_generic": "扫码未能完成：{message}",
        "unknown_name": "未知参会证",
        "result_admitted": "准予进入",
        "result_exited": "已登记离场",
        "result_already_inside": "已在场内",
        "result_not_inside": "不在场内",
        "result_invalid": "无效参会证",
        "result_unknown": "未知参会证",
        "result_revoked": "参会证已失效",
        "result_wrong_event": "非本活动参会证",
        "result_not_allowed_here": "不得进入此区域",
        "result_unchecked": "未能核验",
        "result_error": "未能核验",
        "message_already_inside": "已于 {time} 从 {gate} 入口进入。",
        "message_already_inside_hand": "已于 {time} 由人工登记进入。",
        "message_admitted": "欢迎。",
        "message_exited": "再见。",
        "message_not_inside": "此参会证不在场内，无法登记离场。",
        "message_invalid": "不是有效的参会证：二维码已损坏或系伪造。",
        "message_unknown": "本系统尚未收到此参会证。",
        "message_revoked": "此参会证已失效。",
        "message_replaced": "此参会证已被重新签发的参会证取代。",
        "message_wrong_event": "此参会证属于其他活动。",
        "message_not_allowed_here": "{category}不得进入{area}。",
        "announce": "{result}。{name} {category}。{message}",
    },
}


def page_language() -> str:
    """`?lang=` when asked, else the browser's preference, else English (the script may then
    switch to the language chosen on this device before)."""
    asked = request.args.get("lang", "")
    if asked in TEXT:
        return asked
    return request.accept_languages.best_match(list(TEXT), default="en")


@bp.get(SCOPE)
def scan():
    """The scanner page: sign in, then scan."""
    lang = page_language()
    page = render_template(
        "scan/scan.html",
        lang=lang,
        t=TEXT[lang],
        html_lang=HTML_LANG,
        language_names=LANGUAGE_NAMES,
        asset=asset_url,
        page_data={
            "text": TEXT,
            "lang": lang,
            "api": {
                "device": url_for("checkin.get_device"),
                "scan": url_for("checkin.post_scan"),
                "batch": url_for("checkin.post_batch"),
                "offline": url_for("checkin.get_offline_list", slug="SLUG"),
            },
            "worker": url_for("scan_page.worker"),
            "scope": SCOPE,
        },
    )
    response = current_app.make_response(page)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Content-Language"] = HTML_LANG[lang]
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept-Language")
    return response


@bp.get(f"{SCOPE}/sw.js")
def worker():
    """The service worker, naming the exact (content-hashed) assets it keeps, so a new release
    is a new worker that replaces the old cache."""
    shell = [url_for("scan_page.scan"), *(asset_url(name) for name in SHELL_ASSETS)]
    version = hashlib.sha256(json.dumps(shell).encode()).hexdigest()[:12]
    script = render_template("scan/sw.js", shell=shell, version=version)
    response = current_app.make_response(script)
    response.mimetype = "text/javascript"
    response.headers["Service-Worker-Allowed"] = SCOPE  # the page itself is /scan, not /scan/
    response.headers["Cache-Control"] = "no-cache"
    return response


def asset_url(filename: str) -> str:
    """A static file's URL with its content's hash, so a new release is never served stale."""
    return url_for("scan_page.static", filename=filename, v=_digest(filename))


@cache
def _digest(filename: str) -> str:
    folder = Path(bp.static_folder)
    return hashlib.sha256((folder / filename).read_bytes()).hexdigest()[:12]

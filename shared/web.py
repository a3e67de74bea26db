"""What both web services share: Flask + flask-smorest set up the same way, JSON errors,
body limits, security headers, and a health check of what the service depends on."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Blueprint, Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from shared.config import Settings
from shared.db import Database
from shared.errors import RollcallApi, Unsupported
from shared.ratelimit import Guard, RateLimit

Check = Callable[[], None]
"""A dependency check: returns when healthy, raises when not."""

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}


class IdConverter(IntegerConverter):
    """`<id:name>`: a row id, which fits the database's integer; a larger one is simply not
    found (404) instead of overflowing the database driver."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


_DOCS_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    "img-src 'self' data:; frame-ancestors 'none'"
)


def create_service_app(
    name: str, title: str, settings: Settings, database: Database
) -> tuple[Flask, RollcallApi]:
    """A Flask app with its flask-smorest Api, JSON errors, limits, headers and /healthz."""
    app = Flask(name)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # The docs page loads ReDoc from this package (vendored from npm), never from a CDN.
        OPENAPI_REDOC_PATH="/docs",
        OPENAPI_REDOC_URL="/vendor/redoc/redoc.standalone.js",
    )
    app.register_blueprint(
        Blueprint("vendor", __name__, static_folder="static", static_url_path="/vendor")
    )
    if settings.proxy_hops:  # trust X-Forwarded-For from that many proxies, and no more
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.json.ensure_ascii = False  # names in any script come back as written
    app.json.sort_keys = False  # fields in the order the schemas declare them
    app.url_map.converters["id"] = IdConverter
    api = RollcallApi(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "rc_org_… / rc_scn_…"}
    )

    @app.before_request
    def _json_only():
        if request.method in {"POST", "PUT", "PATCH"} and request.content_length != 0:
            mimetype = request.mimetype or ""
            view = app.view_functions.get(request.endpoint)
            upload = mimetype == "multipart/form-data" and getattr(view, "takes_uploads", False)
            if request.content_length and mimetype != "application/json" and not upload:
                raise Unsupported("unsupported_media_type", "Send the body as application/json.")

    @app.after_request
    def _headers(response):
        for header, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if request.path == "/docs":  # ReDoc styles itself inline and renders in a worker
            response.headers["Content-Security-Policy"] = _DOCS_CSP
        return response

    broker = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
    # Guessing tokens, manage links or tickets stops after a few failures a minute per address.
    Guard(app, broker, RateLimit("auth-failures", settings.auth_failure_limit))
    app.register_blueprint(health_blueprint({"database": database.ping, "redis": broker.ping}))
    return app, api


def takes_uploads(view):
    """Mark a view that takes a multipart/form-data body (a file upload); every other view
    takes JSON only."""
    view.takes_uploads = True
    return view


def health_blueprint(checks: dict[str, Check]) -> Blueprint:
    """`GET /healthz`: 200 when every dependency answers, 503 naming the ones that do not."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz():
        results = {}
        for dependency, check in checks.items():
            try:
                check()
                results[dependency] = "ok"
            except Exception as exc:  # a health check reports every failure, whatever it is
                results[dependency] = f"down: {type(exc).__name__}"
        healthy = all(v == "ok" for v in results.values())
        return {"status": "ok" if healthy else "degraded", "checks": results}, (
            200 if healthy else 503
        )

    return bp

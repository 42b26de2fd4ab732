"""create_app(settings): blueprints, listeners and wiring onto app.ctx — nothing else."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from bot.webhook import bp as webhook_bp
from server.adapters.emulators import EmulatorState, emulator_blueprint
from server.api import auth, estate, health, notify, residents, simulator, tasks
from server.api import changes as changes_api
from server.api import exports as exports_api
from server.api import facilities as facilities_api
from server.api import fees as fees_api
from server.api import households as households_api
from server.api import insights as insights_api
from server.api import kpi as kpi_api
from server.api import notices as notices_api
from server.api import polls as polls_api
from server.api import processes as processes_api
from server.api import reports as reports_api
from server.api import sla as sla_api
from server.api.errors import install_error_handler
from server.console import routes as console
from server.metrics import METRICS
from server.services import Services
from server.settings import Settings

_app_numbers = itertools.count(1)


def create_app(settings: Settings, services: Services | None = None) -> Sanic[Any, Any]:
    """The web app. Pass `services` to share clients owned by the caller (tests, dev runner)."""
    app = Sanic(f"wuye{next(_app_numbers)}")
    app.config.AUTO_EXTEND = False
    app.config.REQUEST_MAX_SIZE = 12 * 1024 * 1024  # photos ≤ 10 MB plus multipart overhead
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings

    app.blueprint(health.bp)
    app.blueprint(webhook_bp)
    app.blueprint(auth.bp)
    app.blueprint(estate.bp)
    app.blueprint(tasks.bp)
    app.blueprint(processes_api.bp)
    app.blueprint(sla_api.bp)
    app.blueprint(kpi_api.bp)
    app.blueprint(reports_api.bp)
    app.blueprint(console.bp)  # the web console (docs/console.md)
    app.blueprint(notify.bp)
    app.blueprint(residents.bp)
    app.blueprint(facilities_api.bp)
    app.blueprint(changes_api.bp)
    app.blueprint(exports_api.bp)
    app.blueprint(households_api.bp)
    app.blueprint(fees_api.bp)
    app.blueprint(notices_api.bp)
    app.blueprint(polls_api.bp)
    app.blueprint(insights_api.bp)
    if settings.wechat_emulated or settings.sms_emulated:
        # The built-in emulators stand in for whatever is left unset (CONTRACT.md, make run).
        state = EmulatorState(
            sms_access_keys={settings.sms_access_key_id: settings.sms_access_key_secret}
        )
        app.ctx.emulator_state = state
        app.blueprint(emulator_blueprint(state))
    if settings.wechat_emulated:
        app.blueprint(simulator.bp)  # the chat simulator plays WeChat: only against the emulator
    install_error_handler(app)

    if services is not None:
        app.ctx.services = services
    else:

        @app.before_server_start
        async def start_services(app: Sanic[Any, Any]) -> None:
            app.ctx.services = await Services.start(settings)

        @app.after_server_stop
        async def stop_services(app: Sanic[Any, Any]) -> None:
            await app.ctx.services.close()

    @app.on_request
    async def start_timer(request: Request) -> None:
        request.ctx.started = time.perf_counter()

    @app.on_response  # type: ignore[untyped-decorator]
    async def record(request: Request, response: HTTPResponse) -> None:
        started = getattr(request.ctx, "started", None)
        if started is not None and request.route is not None:
            METRICS.observe(
                "wuye_http_request_seconds",
                time.perf_counter() - started,
                route=request.route.name.split(".")[-1],
            )
            METRICS.inc("wuye_http_responses_total", status=str(response.status))

    return app

"""Built-in WeChat API and Aliyun SMS emulators: `make run` needs no accounts, tests no network.

Both are served under /_emulator (WeChat at /_emulator/wechat, SMS at /_emulator/sms) either by
the wuye app itself (settings leave WECHAT_API_BASE / SMS_ENDPOINT empty) or by a standalone app.
See docs/emulators.md.
"""

from __future__ import annotations

import itertools
from typing import Any

from sanic import Blueprint, Sanic
from sanic.blueprint_group import BlueprintGroup

from server.adapters.emulators.sms import sms_blueprint
from server.adapters.emulators.state import EmulatorState
from server.adapters.emulators.wechat import wechat_blueprint

__all__ = ["EmulatorState", "emulator_app", "emulator_blueprint"]

_app_numbers = itertools.count(1)


def emulator_blueprint(state: EmulatorState | None = None) -> BlueprintGroup:
    """Both emulators' routes; each blueprint's `ctx.state` is the shared EmulatorState."""
    state = state if state is not None else EmulatorState()
    group = Blueprint.group(wechat_blueprint(state), sms_blueprint(state))
    return group


def emulator_app(state: EmulatorState) -> Sanic[Any, Any]:
    """A standalone app serving only the emulators (tests run it on a loopback port)."""
    app = Sanic(f"wuye_emulator{next(_app_numbers)}")
    app.config.AUTO_EXTEND = False
    app.ctx.emulator_state = state
    app.blueprint(emulator_blueprint(state))
    return app

"""PLACEHOLDER — replaced by the emulator helper."""
from sanic import Blueprint, Sanic


class EmulatorState:
    pass


def emulator_blueprint(state=None):
    bp = Blueprint("emulators", url_prefix="/_emulator")

    @bp.get("/ping")
    async def ping(request):
        from sanic.response import text
        return text("pong")

    return bp


def emulator_app(state):
    app = Sanic("emu" + str(id(state)))
    app.config.AUTO_EXTEND = False
    app.blueprint(emulator_blueprint(state))
    return app

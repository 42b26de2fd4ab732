"""PLACEHOLDER — replaced by the webhook helper."""
from sanic import Blueprint

bp = Blueprint("wechat_official")

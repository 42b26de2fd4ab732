"""Typed settings: config/*.toml first, then environment variables (names fixed by CONTRACT.md)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from server.domain.fees import HoldPolicy

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"

# env var -> (toml section, key)
ENV_NAMES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "REDIS_URL": ("redis", "url"),
    "MQTT_URL": ("mqtt", "url"),
    "HTTP_HOST": ("http", "host"),
    "HTTP_PORT": ("http", "port"),
    "WECHAT_APPID": ("wechat", "appid"),
    "WECHAT_SECRET": ("wechat", "secret"),
    "WECHAT_TOKEN": ("wechat", "token"),
    "WECHAT_AES_KEY": ("wechat", "aes_key"),
    "WECHAT_API_BASE": ("wechat", "api_base"),
    "MINIAPP_APPID": ("miniapp", "appid"),
    "MINIAPP_SECRET": ("miniapp", "secret"),
    "SMS_ENDPOINT": ("sms", "endpoint"),
    "SMS_ACCESS_KEY_ID": ("sms", "access_key_id"),
    "SMS_ACCESS_KEY_SECRET": ("sms", "access_key_secret"),
    "SMS_SIGN_NAME": ("sms", "sign_name"),
    "TZ_NAME": ("app", "tz_name"),
    "WUYE_SECRET_KEY": ("app", "secret_key"),
    "WUYE_MEDIA_DIR": ("app", "media_dir"),
    "SMS_RECEIPT_TOKEN": ("notify", "sms_receipt_token"),
    "PAYMENT_NOTIFY_SECRET": ("fees", "payment_notify_secret"),
    "WUYE_EXPORT_DIR": ("governance", "export_dir"),
    "BOT_MESSAGES_PER_MINUTE": ("wechat", "messages_per_minute"),
}

EMULATOR_PREFIX = "/_emulator"


@dataclass(frozen=True)
class NotifySettings:
    """The notification router's knobs ([notify] in config/default.toml)."""

    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    sms_per_minute: int = 1
    sms_per_hour: int = 5
    sms_per_day: int = 10
    sms_block_s: int = 3600
    sms_receipt_token: str = ""
    relay_batch: int = 200
    relay_concurrency: int = 4
    lease_s: float = 60.0
    fanout_batch: int = 1000


@dataclass(frozen=True)
class GovernanceSettings:
    """Data governance ([governance] in config/default.toml, docs/governance.md)."""

    export_dir: Path = Path("data/exports")
    export_ttl_s: int = 72 * 3600
    audit_retention_days: int = 1095
    download_log_retention_days: int = 1095
    retention_interval_s: float = 3600.0
    # subject (facility kind or resident_data; "*" = any other) -> department code that approves
    owners: dict[str, str] = field(default_factory=dict)
    # subject -> department codes told when a change takes effect (the owner always is)
    subscribers: dict[str, list[str]] = field(default_factory=dict)
    # export dataset -> department code that approves it
    export_owners: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeeSettings:
    """The fee ledger's knobs ([fees] and [fees.hold] in config/default.toml, docs/fees.md)."""

    payment_notify_secret: str = ""
    payment_notify_max_skew_s: int = 300
    hold: HoldPolicy = field(default_factory=lambda: HoldPolicy(frozenset()))


@dataclass(frozen=True)
class Settings:
    """Every setting the processes read; built once at start-up."""

    database_url: str
    redis_url: str
    redis_prefix: str
    mqtt_url: str
    mqtt_embedded_port: int
    http_host: str
    http_port: int
    wechat_appid: str
    wechat_secret: str
    wechat_token: str
    wechat_aes_key: str
    wechat_api_base: str
    push_max_skew_s: int
    reply_budget_s: float
    messages_per_minute: int
    miniapp_appid: str
    miniapp_secret: str
    wechat_templates: dict[str, str]
    sms_endpoint: str
    sms_access_key_id: str
    sms_access_key_secret: str
    sms_sign_name: str
    sms_templates: dict[str, str]
    tz_name: str
    secret_key: str
    token_ttl_s: int
    media_dir: Path
    demo_dir: Path
    miniapp_templates: dict[str, str] = field(default_factory=dict)
    wechat_subscribe_templates: dict[str, str] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)
    fees: FeeSettings = field(default_factory=FeeSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)

    @property
    def own_base_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def wechat_emulated(self) -> bool:
        """True when no real WeChat API base is set: the built-in emulator stands in."""
        return not self.wechat_api_base

    @property
    def sms_emulated(self) -> bool:
        return not self.sms_endpoint

    @property
    def effective_wechat_api_base(self) -> str:
        return self.wechat_api_base or f"{self.own_base_url}{EMULATOR_PREFIX}/wechat"

    @property
    def effective_sms_endpoint(self) -> str:
        return self.sms_endpoint or f"{self.own_base_url}{EMULATOR_PREFIX}/sms"

    @property
    def safe_mode(self) -> bool:
        """WeChat 'safe mode' (AES) is on whenever an EncodingAESKey is configured."""
        return bool(self.wechat_aes_key)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _read_toml(config_dir: Path) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    others = sorted(p for p in config_dir.glob("*.toml") if p.name != "default.toml")
    files = [config_dir / "default.toml", *others]
    for path in files:
        with path.open("rb") as fh:
            for section, values in tomllib.load(fh).items():
                merged.setdefault(section, {}).update(values)
    return merged


def load_settings(env: dict[str, str] | None = None, config_dir: Path = CONFIG_DIR) -> Settings:
    """Read config/default.toml (then other config/*.toml alphabetically), then env vars."""
    env = dict(os.environ) if env is None else env
    raw = _read_toml(config_dir)
    for name, (section, key) in ENV_NAMES.items():
        if name in env:
            raw.setdefault(section, {})[key] = env[name]

    def get(section: str, key: str) -> Any:
        return raw[section][key]

    def path(value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else ROOT / p

    return Settings(
        database_url=_absolute_sqlite(str(get("database", "url"))),
        redis_url=str(get("redis", "url")),
        redis_prefix=str(get("redis", "prefix")),
        mqtt_url=str(get("mqtt", "url")),
        mqtt_embedded_port=int(get("mqtt", "embedded_port")),
        http_host=str(get("http", "host")),
        http_port=int(get("http", "port")),
        wechat_appid=str(get("wechat", "appid")),
        wechat_secret=str(get("wechat", "secret")),
        wechat_token=str(get("wechat", "token")),
        wechat_aes_key=str(get("wechat", "aes_key")),
        wechat_api_base=str(get("wechat", "api_base")).rstrip("/"),
        push_max_skew_s=int(get("wechat", "push_max_skew_s")),
        reply_budget_s=float(get("wechat", "reply_budget_s")),
        messages_per_minute=int(get("wechat", "messages_per_minute")),
        miniapp_appid=str(get("miniapp", "appid")),
        miniapp_secret=str(get("miniapp", "secret")),
        wechat_templates=dict(raw["wechat"].get("templates", {})),
        sms_endpoint=str(get("sms", "endpoint")),
        sms_access_key_id=str(get("sms", "access_key_id")),
        sms_access_key_secret=str(get("sms", "access_key_secret")),
        sms_sign_name=str(get("sms", "sign_name")),
        sms_templates=dict(raw["sms"].get("templates", {})),
        tz_name=str(get("app", "tz_name")),
        secret_key=str(get("app", "secret_key")),
        token_ttl_s=int(get("app", "token_ttl_s")),
        media_dir=path(str(get("app", "media_dir"))),
        demo_dir=path(str(get("app", "demo_dir"))),
        miniapp_templates=dict(raw.get("miniapp", {}).get("templates", {})),
        wechat_subscribe_templates=dict(raw["wechat"].get("subscribe_templates", {})),
        notify=_notify_settings(raw.get("notify", {})),
        fees=_fee_settings(raw.get("fees", {})),
        governance=_governance_settings(raw.get("governance", {}), path),
    )


def _notify_settings(raw: dict[str, Any]) -> NotifySettings:
    """[notify]: quiet hours as "HH:MM" in TZ_NAME, SMS limits per number, relay sizes."""
    default = NotifySettings()

    def clock(key: str, fallback: time) -> time:
        value = raw.get(key)
        return time.fromisoformat(str(value)) if value else fallback

    def number(key: str, fallback: float) -> Any:
        return type(fallback)(raw.get(key, fallback))

    return NotifySettings(
        quiet_start=clock("quiet_start", default.quiet_start),
        quiet_end=clock("quiet_end", default.quiet_end),
        sms_per_minute=number("sms_per_minute", default.sms_per_minute),
        sms_per_hour=number("sms_per_hour", default.sms_per_hour),
        sms_per_day=number("sms_per_day", default.sms_per_day),
        sms_block_s=number("sms_block_s", default.sms_block_s),
        sms_receipt_token=str(raw.get("sms_receipt_token", default.sms_receipt_token)),
        relay_batch=number("relay_batch", default.relay_batch),
        relay_concurrency=number("relay_concurrency", default.relay_concurrency),
        lease_s=number("lease_s", default.lease_s),
        fanout_batch=number("fanout_batch", default.fanout_batch),
    )


def _governance_settings(raw: dict[str, Any], path: Any) -> GovernanceSettings:
    """[governance]: where exports go, how long things are kept, who owns and hears of changes."""
    default = GovernanceSettings()
    return GovernanceSettings(
        export_dir=path(str(raw.get("export_dir") or default.export_dir)),
        export_ttl_s=int(raw.get("export_ttl_s", default.export_ttl_s)),
        audit_retention_days=int(raw.get("audit_retention_days", default.audit_retention_days)),
        download_log_retention_days=int(
            raw.get("download_log_retention_days", default.download_log_retention_days)
        ),
        retention_interval_s=float(raw.get("retention_interval_s", default.retention_interval_s)),
        owners={str(k): str(v) for k, v in raw.get("owners", {}).items()},
        subscribers={str(k): [str(d) for d in v] for k, v in raw.get("subscribers", {}).items()},
        export_owners={str(k): str(v) for k, v in raw.get("export_owners", {}).items()},
    )


def _fee_settings(raw: dict[str, Any]) -> FeeSettings:
    """[fees]: the payment-notification secret and window, [fees.hold]: the arrears hold."""
    hold = raw.get("hold", {})
    default = HoldPolicy(frozenset())
    return FeeSettings(
        payment_notify_secret=str(raw.get("payment_notify_secret", "")),
        payment_notify_max_skew_s=int(raw.get("payment_notify_max_skew_s", 300)),
        hold=HoldPolicy(
            chargeable_categories=frozenset(hold.get("chargeable_categories", [])),
            items=frozenset(hold.get("items", sorted(default.items))),
            overdue_months=int(hold.get("overdue_months", default.overdue_months)),
            overdue_amount=Decimal(str(hold.get("overdue_amount", default.overdue_amount))),
        ),
    )


def _absolute_sqlite(url: str) -> str:
    """Resolve a relative SQLite path against the project root so every command finds one file."""
    prefix = "sqlite://"
    if not url.startswith(prefix):
        return url
    file = url[len(prefix) :]
    if file == ":memory:" or file.startswith("/"):
        return url
    return prefix + str(ROOT / file)

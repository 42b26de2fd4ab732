"""What the WeChat and SMS emulators know and record; tests and the chat simulator drive it."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

WECHAT_PREFIX = "/_emulator/wechat"
DEFAULT_SMS_KEYS = {"demo-key-id": "demo-key-secret"}  # config/default.toml's demo key pair


@dataclass
class IssuedToken:
    appid: str
    expires_at: float
    revoked: bool = False


@dataclass
class ForcedFailure:
    errcode: int
    errmsg: str | None
    http_status: int
    times: int


@dataclass
class SmsFailure:
    code: str
    message: str | None
    http_status: int | None
    times: int


@dataclass
class Session:
    openid: str
    session_key: str
    unionid: str | None = None


@dataclass
class EmulatorState:
    """Everything both emulators hold: tokens, registered codes/media, forced failures, records.

    `clock` (unix seconds) is injectable so token expiry and SMS limits need no sleeping.
    """

    clock: Callable[[], float] = time.time
    sms_access_keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SMS_KEYS))
    token_ttl_s: int = 7200
    # appid -> secret; empty = any appid/secret pair is accepted (dev default).
    apps: dict[str, str] = field(default_factory=dict)
    # None = every openid exists; a set = the others get 40003 (tests opt in).
    known_openids: set[str] | None = None
    # (max sends, per seconds) per phone number, or None for no limit.
    sms_limit: tuple[int, float] | None = None

    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    token_fetch_log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    sms_sends: list[dict[str, Any]] = field(default_factory=list)
    sms_requests: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, deque[ForcedFailure]] = field(default_factory=dict)
    sms_failures: deque[SmsFailure] = field(default_factory=deque)
    sessions: dict[str, Session] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    phone_codes: dict[str, str] = field(default_factory=dict)
    used_phone_codes: set[str] = field(default_factory=set)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    sms_nonces: dict[str, float] = field(default_factory=dict)
    # (openid, client_msg_id) -> (msgid, first send time): template sends WeChat dedupes.
    template_client_ids: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    # -- control (WeChat) -----------------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        errcode: int,
        times: int = 1,
        *,
        errmsg: str | None = None,
        http_status: int = 200,
    ) -> None:
        """Answer the next `times` calls to `path` with `errcode` (or with HTTP `http_status`)."""
        self.failures.setdefault(normalize_path(path), deque()).append(
            ForcedFailure(errcode, errmsg, http_status, times)
        )

    def take_failure(self, path: str) -> ForcedFailure | None:
        queue = self.failures.get(path)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    def expire_tokens(self, appid: str | None = None) -> None:
        """Every token issued so far now answers 42001; the next fetch issues a new one."""
        now = self.clock()
        for token in self.tokens.values():
            if appid is None or token.appid == appid:
                token.expires_at = min(token.expires_at, now)

    def register_app(self, appid: str, secret: str) -> None:
        """From now on token fetches check appid/secret (40013 / 40125) like WeChat does."""
        self.apps[appid] = secret

    def register_openids(self, openids: Iterable[str]) -> None:
        """Make sends to any other openid fail with 40003 (permissive until called)."""
        self.known_openids = set(self.known_openids or ()) | set(openids)

    def register_code(
        self,
        code: str,
        *,
        openid: str | None = None,
        unionid: str | None = None,
        session_key: str | None = None,
    ) -> dict[str, str]:
        """A wx.login code jscode2session will accept once; returns the session it maps to."""
        session = Session(
            openid=openid or derived_openid(code),
            session_key=session_key or secrets.token_urlsafe(18),
            unionid=unionid,
        )
        self.sessions[code] = session
        self.used_codes.discard(code)
        return session_view(session)

    def register_phone_code(self, code: str, phone: str) -> None:
        """A getPhoneNumber code that getuserphonenumber turns into `phone` (single use)."""
        self.phone_codes[code] = phone
        self.used_phone_codes.discard(code)

    def register_media(self, media_id: str, content: bytes, content_type: str) -> None:
        """Temporary media (a user's photo or voice) that media/get will serve."""
        self.media[media_id] = (content, content_type)

    # -- control (SMS) --------------------------------------------------------------------------

    def sms_fail_next(
        self,
        code: str,
        times: int = 1,
        *,
        message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        """Refuse the next `times` valid SendSms calls with Aliyun `code` (HTTP status by code)."""
        self.sms_failures.append(SmsFailure(code, message, http_status, times))

    def take_sms_failure(self) -> SmsFailure | None:
        if not self.sms_failures:
            return None
        failure = self.sms_failures[0]
        failure.times -= 1
        if failure.times <= 0:
            self.sms_failures.popleft()
        return failure

    def sms_rate_limit(self, max_sends: int | None, per_s: float = 60.0) -> None:
        """Answer isv.BUSINESS_LIMIT_CONTROL past `max_sends` per number per window (None = off)."""
        self.sms_limit = None if max_sends is None else (max_sends, per_s)

    # -- views ----------------------------------------------------------------------------------

    def calls(self, kind: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        """Accepted WeChat sends (kind template/custom/subscribe/bizsend), oldest first."""
        return [
            call
            for call in self.sends
            if (kind is None or call["kind"] == kind)
            and (openid is None or call["openid"] == openid)
        ]

    def sms_calls(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Accepted SMS, one record per phone number, oldest first."""
        return [call for call in self.sms_sends if phone is None or call["phone"] == phone]

    def token_fetches(self, appid: str | None = None) -> int:
        """How many times token endpoints were called (successful or not) for `appid` or all."""
        return sum(1 for f in self.token_fetch_log if appid is None or f["appid"] == appid)

    def reset(self) -> None:
        """Forget everything: records, tokens, registrations, failures, limits."""
        fresh = EmulatorState(
            clock=self.clock,
            sms_access_keys=dict(self.sms_access_keys),
            token_ttl_s=self.token_ttl_s,
        )
        self.__dict__.update(fresh.__dict__)


def normalize_path(path: str) -> str:
    """`message/custom/send`, `/cgi-bin/...`, `/_emulator/wechat/cgi-bin/...` -> `/cgi-bin/...`."""
    path = "/" + path.strip().lstrip("/")
    if path.startswith(WECHAT_PREFIX + "/"):
        path = path[len(WECHAT_PREFIX) :]
    if not path.startswith(("/cgi-bin/", "/sns/", "/wxa/")):
        path = "/cgi-bin" + path
    return path


def derived_openid(code: str) -> str:
    """A stable 28-character openid for an unregistered login code, so demos need no setup."""
    return "o" + hashlib.sha256(f"wuye-emulator:{code}".encode()).hexdigest()[:27]


def session_view(session: Session) -> dict[str, str]:
    view = {"openid": session.openid, "session_key": session.session_key}
    if session.unionid:
        view["unionid"] = session.unionid
    return view

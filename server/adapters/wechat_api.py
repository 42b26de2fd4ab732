"""PLACEHOLDER — replaced by the WeChat client helper."""


class WechatApi:
    def __init__(self, *, base_url, appid, secret, redis, http, key_prefix="wuye:"):
        self.base_url, self.appid, self.secret = base_url, appid, secret


class WechatApiError(Exception):
    pass

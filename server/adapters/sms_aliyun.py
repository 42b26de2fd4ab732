"""PLACEHOLDER — replaced by the SMS helper."""


class AliyunSms:
    def __init__(self, *, endpoint, access_key_id, access_key_secret, sign_name):
        self.endpoint = endpoint

"""Adapters: the only code that talks to networks and services (redis, WeChat, SMS, MQTT)."""

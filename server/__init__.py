"""wuye server: web API, WeChat webhook, workers."""

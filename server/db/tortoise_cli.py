"""Config for the `tortoise` migrations CLI: tortoise -c server.db.tortoise_cli.TORTOISE_ORM."""

from server.db import cli_config

TORTOISE_ORM = cli_config()

"""HTTP API: thin Sanic blueprints that check access and call actions."""

"""Pure rules (stdlib only): no Sanic, ORM or network here."""

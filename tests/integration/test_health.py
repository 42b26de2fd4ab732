"""Health, metrics and OpenAPI routes."""


async def test_healthz_reports_database_and_redis_ok(app):
    _, response = await app.asgi_client.get("/healthz")
    assert response.status == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_openapi_lists_every_api_route(app):
    _, response = await app.asgi_client.get("/openapi.json")
    assert response.status == 200
    paths = response.json["paths"]
    assert "/api/v1/auth/miniapp" in paths
    assert "/api/v1/communities/{code}" in paths

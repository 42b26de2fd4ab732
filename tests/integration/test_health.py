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


async def test_metrics_show_the_backlog_workers_must_clear(app, services):
    from datetime import UTC, datetime, timedelta

    from server.db.outbox import OutboxMessage

    late = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(3):
        await OutboxMessage.create(
            idempotency_key=f"metrics-{n}",
            kind="task_assigned",
            recipient_kind="staff",
            values={},
            next_attempt_at=late,
            created_at=late,
        )
    await services.redis.set(f"{services.settings.redis_prefix}worker:host:1", "1")
    _, response = await app.asgi_client.get("/metrics")
    assert response.status == 200
    gauges = dict(
        line.split(" ") for line in response.text.splitlines() if line.startswith("wuye_")
    )
    assert gauges["wuye_outbox_due"] == "3"
    assert 290 <= float(gauges["wuye_outbox_oldest_due_seconds"]) < 600
    assert gauges["wuye_timers_overdue"] == "0"
    assert gauges["wuye_workers_alive"] == "1"

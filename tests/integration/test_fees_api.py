"""The fee ledger over HTTP: statements, payments, signed notifications, arrears masked by role."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from server.db.fees import FeeRow, Payment
from tests.support.fees import billing_clerk, notification, notify, owe, signed
from tests.support.seed import bearer, seed_estate, token_for


async def test_resident_reads_the_fees_of_their_own_room_only(app, settings):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=40, amount="320.00")
    await owe(estate.room_a, days_overdue=-10, amount="320.00")  # not due yet
    await owe(estate.room_a, days_overdue=60, amount="1800.00", item="parking_fee")
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, r = await app.asgi_client.get(f"/api/v1/rooms/{estate.room_a.id}/fees", headers=resident)
    assert r.status == 200
    by_item = {b["item"]: b for b in r.json["balances"]}
    assert (by_item["property_fee"]["outstanding"], by_item["property_fee"]["overdue"]) == (
        "640.00",
        "320.00",
    )
    assert by_item["parking_fee"]["item_name"] == "停车费"
    assert r.json["state"] == "overdue_below_threshold"
    assert len(r.json["rows"]) == 3
    _, r = await app.asgi_client.get(f"/api/v1/rooms/{estate.room_b.id}/fees", headers=resident)
    assert r.status == 404


async def test_staff_read_fees_of_their_communities_only(app, settings):
    estate = await seed_estate()
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, r = await app.asgi_client.get(f"/api/v1/rooms/{estate.room_a.id}/fees", headers=lead)
    assert r.status == 200
    _, r = await app.asgi_client.get(f"/api/v1/rooms/{estate.room_b.id}/fees", headers=lead)
    assert r.status == 404
    field_staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, r = await app.asgi_client.get(f"/api/v1/rooms/{estate.room_a.id}/fees", headers=field_staff)
    assert r.status == 403


async def test_billing_records_a_payment_allocated_oldest_first(app, settings):
    estate = await seed_estate()
    clerk = await billing_clerk(estate)
    old = await owe(estate.room_a, days_overdue=70, amount="320.00")
    new = await owe(estate.room_a, days_overdue=40, amount="320.00")
    headers = bearer(token_for(settings, "staff", clerk.id))
    body = {"payment_id": "R-0001", "room": estate.room_a.id, "item": "property_fee"}
    _, r = await app.asgi_client.post(
        "/api/v1/payments", json={**body, "amount": "400.00"}, headers=headers
    )
    assert r.status == 201, r.json
    assert r.json["payment"]["allocations"] == [
        {"period": old.period, "amount": "320.00"},
        {"period": new.period, "amount": "80.00"},
    ]
    paid = {f.period: f.amount_paid for f in await FeeRow.all()}
    assert paid == {old.period: Decimal("320.00"), new.period: Decimal("80.00")}
    payment = await Payment.get(payment_id="R-0001")
    assert (payment.source, payment.recorded_by_id) == ("api", clerk.id)
    # the same receipt entered twice changes nothing
    _, again = await app.asgi_client.post(
        "/api/v1/payments", json={**body, "amount": "400.00"}, headers=headers
    )
    assert (again.status, again.json["result"]) == (200, "duplicate")
    assert {f.period: f.amount_paid for f in await FeeRow.all()} == paid
    # bad input is a clear error, never a 500
    for amount, code in (("-5", "bad_amount"), ("abc", "bad_field"), ("1.234", "bad_amount")):
        _, bad = await app.asgi_client.post(
            "/api/v1/payments",
            json={**body, "payment_id": f"R-{amount}", "amount": amount},
            headers=headers,
        )
        assert (bad.status, bad.json["error"]["code"]) == (400, code)


async def test_only_billing_and_managers_record_payments(app, settings):
    estate = await seed_estate()
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    body = {"payment_id": "R-1", "room": estate.room_a.id, "item": "property_fee", "amount": "1"}
    _, r = await app.asgi_client.post("/api/v1/payments", json=body, headers=desk)
    assert r.status == 403


async def test_arrears_list_masks_phones_for_every_role_and_names_below_billing(app, settings):
    estate = await seed_estate()
    clerk = await billing_clerk(estate)
    await owe(estate.room_a, days_overdue=130, amount="960.00")
    url = f"/api/v1/communities/{estate.a.id}/arrears"
    _, r = await app.asgi_client.get(url, headers=bearer(token_for(settings, "staff", clerk.id)))
    assert r.status == 200
    [household] = r.json["households"]
    assert household["state"] == "overdue"
    assert household["residents"] == [{"name": "张伟", "phone": "138****1234"}]
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, r = await app.asgi_client.get(url, headers=lead)
    assert r.json["households"][0]["residents"] == [{"name": "张*", "phone": "138****1234"}]
    field_staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, r = await app.asgi_client.get(url, headers=field_staff)
    assert r.status == 403
    _, r = await app.asgi_client.get(f"/api/v1/communities/{estate.b.id}/arrears", headers=lead)
    assert r.status == 404


# ---- the signed notification ------------------------------------------------------------------


async def test_a_bad_signature_is_refused_and_nothing_is_written(app, settings):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=40, amount="320.00")
    raw, headers = signed(notification("wx-1", "320.00"), "not-the-secret")
    _, r = await app.asgi_client.post("/api/v1/payments/notify", content=raw, headers=headers)
    assert (r.status, r.json["error"]["code"]) == (403, "bad_signature")
    raw, headers = signed(notification("wx-1", "320.00"), settings.fees.payment_notify_secret)
    tampered = raw.replace(b"320.00", b"3200.00")
    _, r = await app.asgi_client.post("/api/v1/payments/notify", content=tampered, headers=headers)
    assert r.status == 403
    _, r = await app.asgi_client.post(
        "/api/v1/payments/notify", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status == 403
    assert await Payment.all().count() == 0
    assert (await FeeRow.get()).amount_paid == 0


async def test_an_old_notification_replayed_is_refused(app, settings):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=40, amount="320.00")
    stale = int(time.time()) - 301
    r = await notify(app, settings, notification("wx-2", "320.00"), timestamp=stale)
    assert (r.status, r.json["error"]["code"]) == (403, "stale_timestamp")
    assert await Payment.all().count() == 0


async def test_a_repeated_notification_answers_the_original_result(app, settings):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=40, amount="320.00")
    first = await notify(app, settings, notification("wx-3", "200.00"))
    assert (first.status, first.json["result"]) == (201, "booked")
    again = await notify(app, settings, notification("wx-3", "200.00"))
    assert (again.status, again.json["result"]) == (200, "duplicate")
    assert again.json["payment"] == first.json["payment"]
    assert (await FeeRow.get()).amount_paid == Decimal("200.00")
    reused = await notify(app, settings, notification("wx-3", "999.00"))
    assert (reused.status, reused.json["error"]["code"]) == (409, "payment_id_reused")


async def test_notification_for_an_unknown_room_or_item_is_a_clear_error(app, settings):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=40, amount="320.00")
    r = await notify(app, settings, notification("wx-4", "1.00", room="999"))
    assert (r.status, r.json["error"]["code"]) == (404, "not_found")
    r = await notify(app, settings, notification("wx-5", "1.00", item="gym_fee"))
    assert (r.status, r.json["error"]["code"]) == (400, "no_such_fee")
    r = await notify(app, settings, {"payment_id": "wx-6"})
    assert (r.status, r.json["error"]["code"]) == (400, "missing_field")
    assert await Payment.all().count() == 0


async def test_concurrent_payments_never_spend_the_same_debt_twice(app, settings):
    estate = await seed_estate()
    rows = [await owe(estate.room_a, days_overdue=d, amount="300.00") for d in (90, 60, 30)]
    results = await asyncio.gather(
        *(notify(app, settings, notification(f"wx-c{i}", "250.00")) for i in range(4))
    )
    assert [r.status for r in results] == [201] * 4
    paid = {f.period: f.amount_paid for f in await FeeRow.all()}
    assert paid == {r.period: Decimal("300.00") for r in rows}  # 900 owed, 1000 paid
    allocated = sum(Decimal(a["amount"]) for r in results for a in r.json["payment"]["allocations"])
    credit = sum(Decimal(r.json["payment"]["unallocated"]) for r in results)
    assert (allocated, credit) == (Decimal("900.00"), Decimal("100.00"))
    # the same notification delivered twice at once is booked once
    twice = await asyncio.gather(
        *(notify(app, settings, notification("wx-d", "5.00")) for _ in "ab")
    )
    assert sorted(r.json["result"] for r in twice) == ["booked", "duplicate"]
    assert await Payment.filter(payment_id="wx-d").count() == 1

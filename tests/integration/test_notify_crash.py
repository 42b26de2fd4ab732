"""A relay killed with -9 between claim and send (or mid-send): nothing lost, nothing doubled."""

from __future__ import annotations

from collections import Counter

import pytest
from tortoise.expressions import Q

from server.actions.claims import claim_due
from server.actions.notify import LeaseLost, Recipient, deliver, enqueue, record_receipt
from server.db.outbox import OutboxMessage
from server.workers.outbox import relay_once
from tests.support.notify import NOON, later, values

LEASE_S = 60


def template_person(i: int) -> Recipient:
    return Recipient("staff", i, f"o_staff_{i}", "")


def sms_person(i: int) -> Recipient:
    return Recipient("staff", 100 + i, "", f"1360000{i:04d}")


async def queue(n_template: int, n_sms: int) -> None:
    for i in range(n_template):
        await enqueue(
            "task_assigned", template_person(i), values("task_assigned"), key=f"t:{i}", now=NOON
        )
    for i in range(n_sms):
        await enqueue(
            "task_assigned", sms_person(i), values("task_assigned"), key=f"s:{i}", now=NOON
        )


async def claim_and_die(services, *, sends: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    """What a relay killed with -9 leaves: every due row leased to it, the first `sends` of
    them already sent, no outcome written."""
    due = Q(status__in=["pending", "sending"], next_attempt_at__lte=NOON)
    rows = await claim_due(
        OutboxMessage, due, owner="dead-relay", now=NOON, lease_s=LEASE_S, batch=1000
    )
    for message in rows[:sends]:
        await deliver(message, services, NOON)  # the send happens; the relay dies before saving
    return rows


async def test_killed_before_any_send_everything_goes_out_once_after_the_lease(
    services, wechat_calls
):
    await queue(10, 4)
    await claim_and_die(services, sends=0)
    assert await relay_once(services, now=later(NOON, 30)) == 0  # leased: nobody touches them
    await relay_once(services, now=later(NOON, LEASE_S + 1))
    assert Counter(c["openid"] for c in wechat_calls.calls()) == {
        f"o_staff_{i}": 1 for i in range(10)
    }
    assert Counter(c["phone"] for c in wechat_calls.sms_calls()) == {
        f"1360000{i:04d}": 1 for i in range(4)
    }
    assert set(await OutboxMessage.all().values_list("status", flat=True)) == {"sent"}


async def test_killed_after_sending_the_person_still_gets_each_message_once(services, wechat_calls):
    await queue(10, 4)
    rows = await claim_and_die(services, sends=14)  # every send done, no outcome recorded
    assert len(wechat_calls.calls()) == 10 and len(wechat_calls.sms_calls()) == 4
    await relay_once(services, now=later(NOON, LEASE_S + 1))

    # Templates are sent again with the same client_msg_id: WeChat (and the emulator) keep one.
    assert Counter(c["openid"] for c in wechat_calls.calls()) == {
        f"o_staff_{i}": 1 for i in range(10)
    }
    templates = await OutboxMessage.filter(idempotency_key__startswith="t:")
    assert {(r.status, r.channel) for r in templates} == {("sent", "template")}
    assert all(r.msgid for r in templates)
    # SMS: never sent twice. Without Aliyun's word the rows say so honestly.
    assert Counter(c["phone"] for c in wechat_calls.sms_calls()) == {
        f"1360000{i:04d}": 1 for i in range(4)
    }
    sms_rows = await OutboxMessage.filter(idempotency_key__startswith="s:")
    assert {r.status for r in sms_rows} == {"unconfirmed"}
    assert len(rows) == 14


async def test_receipt_settles_an_sms_left_unconfirmed_by_a_crash(services, wechat_calls):
    await queue(0, 1)
    await claim_and_die(services, sends=1)
    await relay_once(services, now=later(NOON, LEASE_S + 1))
    row = await OutboxMessage.get(idempotency_key="s:0")
    assert row.status == "unconfirmed"
    [sms] = wechat_calls.sms_calls()
    await record_receipt(
        "sms", sms["out_id"], ok=True, status="DELIVERED", now=later(NOON, LEASE_S + 5)
    )
    row = await OutboxMessage.get(idempotency_key="s:0")
    assert (row.status, row.receipt) == ("delivered", "DELIVERED")


async def test_receipt_that_arrived_while_the_relay_was_dead_is_used_on_recovery(
    services, wechat_calls
):
    await queue(0, 1)
    await claim_and_die(services, sends=1)
    [sms] = wechat_calls.sms_calls()
    await record_receipt("sms", sms["out_id"], ok=True, status="DELIVERED", now=later(NOON, 5))
    await relay_once(services, now=later(NOON, LEASE_S + 1))
    row = await OutboxMessage.get(idempotency_key="s:0")
    assert (row.status, row.channel) == ("delivered", "sms")
    assert len(wechat_calls.sms_calls()) == 1


async def test_relay_that_lost_its_lease_sends_no_sms(services, wechat_calls):
    await queue(0, 1)
    [stale] = await claim_and_die(services, sends=0)  # a relay that stalled, not died
    due = Q(status="pending")
    [taken] = await claim_due(
        OutboxMessage,
        due,
        owner="new-relay",
        now=later(NOON, LEASE_S + 1),
        lease_s=LEASE_S,
        batch=10,
    )
    with pytest.raises(LeaseLost):
        await deliver(stale, services, later(NOON, LEASE_S + 2))
    assert wechat_calls.sms_calls() == []
    assert taken.id == stale.id

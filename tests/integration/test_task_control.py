"""Control at every node over HTTP (article 1.3, 7): reassign, transfer, return, rework, instruct,
urge, a manager rating an instruction, and evidence each definition requires before completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.db.outbox import OutboxMessage
from server.db.tasks import TaskEvent
from templates_msg import label
from tests.integration.test_task_lifecycle import INSIDE, PNG, create_repair
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for


async def post(app, settings, who, path, body=None):  # type: ignore[no-untyped-def]
    headers = bearer(token_for(settings, "staff", who.id))
    _, response = await app.asgi_client.post(f"/api/v1{path}", json=body, headers=headers)
    return response


async def completed_repair(app, settings, estate):  # type: ignore[no-untyped-def]
    ref = (await create_repair(app, settings, estate))["ref"]
    await post(app, settings, estate.staff_a, f"/tasks/{ref}/accept")
    await post(app, settings, estate.staff_a, f"/tasks/{ref}/checkin", INSIDE)
    await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/photos",
        files={"file": ("a.png", PNG, "image/png")},
        headers=bearer(token_for(settings, "staff", estate.staff_a.id)),
    )
    response = await post(app, settings, estate.staff_a, f"/tasks/{ref}/complete", {})
    assert response.json["state"] == "completed", response.json
    return ref


async def instruction(app, settings, estate, sup, **extra):  # type: ignore[no-untyped-def]
    deadline = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {
        "kind": "instruction",
        "community": "alpha",
        "category": "elevator",
        "department": "eng",
        "description": "把3号楼电梯修好",
        "deadline": deadline,
        **extra,
    }
    response = await post(app, settings, sup.manager, "/tasks", body)
    assert response.status == 201, response.json
    return response.json


async def test_reassign_hands_the_task_to_another_worker_of_the_department(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(
        app,
        settings,
        estate.lead_a,
        f"/tasks/{ref}/reassign",
        {"assignee": estate.lead_a.id, "reason": "王强请假"},
    )
    assert (response.json["state"], response.json["assignee"]["name"]) == ("assigned", "钱工")
    assert response.json["events"][-1]["note"] == "王强请假"


async def test_reassign_to_someone_outside_the_department_is_refused(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(
        app,
        settings,
        estate.lead_a,
        f"/tasks/{ref}/reassign",
        {"assignee": estate.service_desk.id, "reason": "试试"},
    )
    assert (response.status, response.json["error"]["code"]) == (400, "bad_assignee")
    assert response.json["error"]["message"] == label("refusal", "bad_assignee")


async def test_transfer_sends_the_task_to_another_department(app, settings, services):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(
        app,
        settings,
        estate.lead_a,
        f"/tasks/{ref}/transfer",
        {"department": "cleaning", "reason": "是公共区域保洁问题"},
    )
    assert response.status == 200, response.json
    body = response.json
    assert (body["department"], body["assignee"]["name"]) == ("cleaning", sup.cleaning_lead.name)
    event = body["events"][-1]
    assert (event["action"], event["note"]) == ("transfer", "是公共区域保洁问题")
    assert await OutboxMessage.filter(
        kind="task_assigned", recipient_id=sup.cleaning_lead.id, recipient_kind="staff"
    ).exists()


async def test_transfer_without_a_reason_is_refused(app, settings):
    estate = await seed_estate()
    await seed_supervision(estate)
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(
        app,
        settings,
        estate.lead_a,
        f"/tasks/{ref}/transfer",
        {"department": "cleaning", "reason": "  "},
    )
    assert (response.status, response.json["error"]["code"]) == (409, "needs_reason")


async def test_return_sends_the_task_back_to_the_department_lead(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(
        app, settings, estate.staff_a, f"/tasks/{ref}/return", {"reason": "需要电工证，我没有"}
    )
    assert (response.json["state"], response.json["assignee"]["name"]) == ("returned", "钱工")
    message = await OutboxMessage.get(kind="task_returned", recipient_id=estate.lead_a.id)
    assert message.values["reason"] == "需要电工证，我没有"


async def test_returned_task_is_dispatched_again_by_the_lead(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    await post(app, settings, estate.staff_a, f"/tasks/{ref}/return", {"reason": "不会修"})
    response = await post(
        app,
        settings,
        estate.lead_a,
        f"/tasks/{ref}/reassign",
        {"assignee": estate.lead_a.id, "reason": "我自己去"},
    )
    assert (response.json["state"], response.json["assignee"]["name"]) == ("assigned", "钱工")


async def test_returning_a_task_one_is_not_handling_is_refused(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(app, settings, estate.lead_a, f"/tasks/{ref}/return", {"reason": "不"})
    assert (response.status, response.json["error"]["code"]) == (403, "not_allowed")


async def test_rework_goes_back_to_the_handler_and_is_marked_for_kpis(app, settings, services):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = await completed_repair(app, settings, estate)
    response = await post(
        app, settings, sup.manager, f"/tasks/{ref}/rework", {"reason": "阀门仍然漏水"}
    )
    assert (response.json["state"], response.json["assignee"]["name"]) == ("assigned", "王强")
    rework = await TaskEvent.get(action="rework")
    assert rework.data == {"kpi": "rework", "handler_id": estate.staff_a.id}
    message = await OutboxMessage.get(kind="rework", recipient_id=estate.staff_a.id)
    assert (message.values["reason"], message.values["author_name"]) == ("阀门仍然漏水", "周总")


async def test_rework_before_completion_is_refused(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(app, settings, sup.manager, f"/tasks/{ref}/rework", {"reason": "重做"})
    assert (response.status, response.json["error"]["code"]) == (409, "wrong_state")


async def test_instruction_at_any_node_is_told_to_the_assignee(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await create_repair(app, settings, estate))["ref"]
    await post(app, settings, estate.staff_a, f"/tasks/{ref}/accept")
    response = await post(
        app, settings, sup.manager, f"/tasks/{ref}/instruct", {"text": "带上备用阀门"}
    )
    assert response.json["events"][-1]["action"] == "instruct"
    message = await OutboxMessage.get(kind="instruction", recipient_id=estate.staff_a.id)
    assert message.values["note"] == "带上备用阀门"


async def test_manager_urging_is_told_as_the_managers_chase(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await post(app, settings, sup.manager, f"/tasks/{ref}/urge")
    assert response.status == 200, response.json
    assert await OutboxMessage.filter(kind="task_chased", recipient_id=estate.staff_a.id).exists()


async def test_instruction_goes_to_the_department_lead_with_its_deadline(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    task = await instruction(app, settings, estate, sup)
    assert (task["kind"], task["state"], task["assignee"]["name"]) == (
        "instruction",
        "assigned",
        "钱工",
    )
    due, resolve = (datetime.fromisoformat(task[k]) for k in ("due_at", "resolve_by"))
    assert abs((resolve - due).total_seconds()) < 2


async def test_instruction_cannot_complete_without_a_report(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await instruction(app, settings, estate, sup))["ref"]
    await post(app, settings, estate.lead_a, f"/tasks/{ref}/accept")
    response = await post(app, settings, estate.lead_a, f"/tasks/{ref}/complete", {"note": ""})
    assert (response.status, response.json["error"]["code"]) == (409, "needs_report")
    response = await post(
        app, settings, estate.lead_a, f"/tasks/{ref}/complete", {"note": "已更换门机皮带"}
    )
    assert response.json["state"] == "completed"
    told = await OutboxMessage.filter(kind="task_update", recipient_id=sup.manager.id)
    assert [
        m.values["note"] for m in told if m.values["state_name"] == label("state", "completed")
    ] == ["已更换门机皮带"]


async def test_manager_rates_the_instruction_they_gave(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await instruction(app, settings, estate, sup))["ref"]
    await post(app, settings, estate.lead_a, f"/tasks/{ref}/accept")
    await post(app, settings, estate.lead_a, f"/tasks/{ref}/complete", {"note": "已修好"})
    response = await post(
        app, settings, sup.manager, f"/tasks/{ref}/rate", {"score": 4, "comment": "及时"}
    )
    assert (response.json["state"], response.json["score"]) == ("closed", 4)


async def test_field_staff_cannot_rate_an_instruction(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = (await instruction(app, settings, estate, sup))["ref"]
    await post(app, settings, estate.lead_a, f"/tasks/{ref}/accept")
    await post(app, settings, estate.lead_a, f"/tasks/{ref}/complete", {"note": "已修好"})
    response = await post(app, settings, estate.staff_a, f"/tasks/{ref}/rate", {"score": 5})
    assert (response.status, response.json["error"]["code"]) == (403, "not_allowed")


async def test_past_deadline_is_refused(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    body = {
        "kind": "instruction",
        "community": "alpha",
        "category": "elevator",
        "department": "eng",
        "description": "修电梯",
        "deadline": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    response = await post(app, settings, sup.manager, "/tasks", body)
    assert (response.status, response.json["error"]["code"]) == (400, "deadline_past")


async def test_residents_cannot_issue_instructions(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id))
    body = {
        "kind": "instruction",
        "community": "alpha",
        "category": "elevator",
        "department": "eng",
        "description": "修电梯",
    }
    _, response = await app.asgi_client.post("/api/v1/tasks", json=body, headers=headers)
    assert response.status == 403

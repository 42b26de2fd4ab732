"""Contractor jobs negotiated by opinions (article 6.2) over HTTP: the department, then the
contractor; agreement proceeds, disagreement goes back for another round, and after the last
round both units' managers decide. Contractors see only their own jobs."""

from __future__ import annotations

from server.db.outbox import OutboxMessage
from tests.integration.test_task_lifecycle import create_repair
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for


async def call(app, settings, who, method, path, body=None):  # type: ignore[no-untyped-def]
    headers = bearer(token_for(settings, "staff", who.id))
    send = app.asgi_client.post if method == "POST" else app.asgi_client.get
    _, response = (
        await send(f"/api/v1{path}", json=body, headers=headers)
        if method == "POST"
        else await send(f"/api/v1{path}", headers=headers)
    )
    return response


async def opine(app, settings, who, ref, agree, reason=""):  # type: ignore[no-untyped-def]
    return await call(
        app, settings, who, "POST", f"/tasks/{ref}/opinion", {"agree": agree, "reason": reason}
    )


async def new_job(app, settings):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    body = {
        "kind": "contractor_job",
        "community": "alpha",
        "category": "elevator",
        "place": "3号楼电梯",
        "description": "更换3号楼电梯曳引机，报价8万元",
        "contractor": "lift_co",
    }
    response = await call(app, settings, estate.lead_a, "POST", "/tasks", body)
    assert response.status == 201, response.json
    return estate, sup, response.json


async def test_job_starts_with_the_departments_opinion(app, settings):
    _, _, job = await new_job(app, settings)
    assert (job["state"], job["department"], job["contractor"]) == ("dept_review", "eng", "lift_co")
    assert job["assignee"]["name"] == "钱工"


async def test_both_agree_and_the_job_proceeds(app, settings):
    estate, sup, job = await new_job(app, settings)
    ref = job["ref"]
    first = await opine(app, settings, estate.lead_a, ref, True)
    assert (first.json["state"], first.json["assignee"]["name"]) == ("contractor_review", "孙浩")
    asked = await OutboxMessage.get(kind="opinion_requested", recipient_id=sup.contractor_lead.id)
    assert (asked.values["author_name"], asked.values["agree"]) == ("钱工", True)

    second = await opine(app, settings, sup.contractor_staff, ref, True)

    assert second.status == 200, second.json
    assert (second.json["state"], second.json["assignee"]["name"]) == ("in_progress", "孙浩")
    assert [(o["party"], o["agree"], o["round"]) for o in second.json["opinions"]] == [
        ("department", True, 1),
        ("contractor", True, 1),
    ]
    assert await OutboxMessage.filter(
        kind="negotiation_result", recipient_id=estate.lead_a.id, recipient_kind="staff"
    ).exists()


async def test_disagreement_goes_back_and_both_opine_again(app, settings):
    estate, sup, job = await new_job(app, settings)
    ref = job["ref"]
    await opine(app, settings, estate.lead_a, ref, True)
    back = await opine(app, settings, sup.contractor_lead, ref, False, "价格太低，至少9万")
    assert (back.json["state"], back.json["events"][-1]["action"]) == ("dept_review", "renegotiate")
    await opine(app, settings, estate.lead_a, ref, True, "同意按9万执行")
    done = await opine(app, settings, sup.contractor_lead, ref, True)
    assert done.json["state"] == "in_progress"
    assert [(o["party"], o["agree"], o["round"], o["reason"]) for o in done.json["opinions"]] == [
        ("department", True, 1, ""),
        ("contractor", False, 1, "价格太低，至少9万"),
        ("department", True, 2, "同意按9万执行"),
        ("contractor", True, 2, ""),
    ]


async def test_department_disagreeing_is_not_agreement_even_if_the_contractor_agrees(app, settings):
    estate, sup, job = await new_job(app, settings)
    await opine(app, settings, estate.lead_a, job["ref"], False, "工期太长")
    response = await opine(app, settings, sup.contractor_lead, job["ref"], True)
    assert response.json["state"] == "dept_review"


async def escalated(app, settings):  # type: ignore[no-untyped-def]
    estate, sup, job = await new_job(app, settings)
    ref = job["ref"]
    for _ in range(2):  # max_rounds: 2 (config/processes/contractor_job.yaml)
        await opine(app, settings, estate.lead_a, ref, True)
        last = await opine(app, settings, sup.contractor_lead, ref, False, "价格太低")
    assert (last.json["state"], last.json["events"][-1]["action"]) == ("manager_review", "escalate")
    return estate, sup, ref, last.json


async def test_disagreement_past_the_last_round_goes_to_both_managers(app, settings):
    estate, sup, ref, job = await escalated(app, settings)
    manager = estate.manager_all  # the first company manager serving the estate
    assert job["assignee"]["name"] == manager.name
    assert await OutboxMessage.filter(kind="opinion_requested", recipient_id=manager.id).exists()
    refused = await opine(app, settings, estate.lead_a, ref, True)
    assert (refused.status, refused.json["error"]["code"]) == (403, "not_allowed")

    first = await opine(app, settings, manager, ref, True, "按9万执行")
    assert (first.json["state"], first.json["assignee"]["name"]) == (
        "contractor_head_review",
        "孙浩",
    )
    staff_refused = await opine(app, settings, sup.contractor_staff, ref, True)
    assert staff_refused.json["error"]["code"] == "not_allowed"  # only its head decides now
    decided = await opine(app, settings, sup.contractor_lead, ref, True)
    assert decided.json["state"] == "in_progress"


async def test_managers_disagreeing_reject_the_job(app, settings):
    _estate, sup, ref, _ = await escalated(app, settings)
    await opine(app, settings, sup.manager, ref, True)
    decided = await opine(app, settings, sup.contractor_lead, ref, False, "无法接受")
    assert decided.json["state"] == "rejected"
    assert decided.json["closed_at"] is not None


async def test_disagreeing_without_a_reason_is_refused(app, settings):
    estate, _, job = await new_job(app, settings)
    response = await opine(app, settings, estate.lead_a, job["ref"], False, " ")
    assert (response.status, response.json["error"]["code"]) == (409, "needs_reason")


async def test_contractor_cannot_answer_for_the_department(app, settings):
    _, sup, job = await new_job(app, settings)
    response = await opine(app, settings, sup.contractor_lead, job["ref"], True)
    assert (response.status, response.json["error"]["code"]) == (403, "not_allowed")


async def test_an_opinion_on_a_repair_is_refused(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    response = await opine(app, settings, estate.lead_a, ref, True)
    assert (response.status, response.json["error"]["code"]) == (409, "no_opinion_asked")


async def test_contractor_completes_and_the_department_accepts_the_work(app, settings):
    estate, sup, job = await new_job(app, settings)
    ref = job["ref"]
    await opine(app, settings, estate.lead_a, ref, True)
    await opine(app, settings, sup.contractor_lead, ref, True)
    done = await call(
        app,
        settings,
        sup.contractor_staff,
        "POST",
        f"/tasks/{ref}/complete",
        {"note": "曳引机已更换，试运行正常"},
    )
    assert (done.json["state"], done.json["assignee"]["name"]) == ("completed", "钱工")
    back = await call(
        app, settings, estate.lead_a, "POST", f"/tasks/{ref}/rework", {"reason": "运行有异响"}
    )
    assert back.json["state"] == "in_progress"
    await call(
        app, settings, sup.contractor_staff, "POST", f"/tasks/{ref}/complete", {"note": "已调整"}
    )
    closed = await call(app, settings, estate.lead_a, "POST", f"/tasks/{ref}/rate", {"score": 5})
    assert closed.json["state"] == "closed"


async def test_contractors_list_only_their_own_jobs(app, settings):
    estate, sup, job = await new_job(app, settings)
    repair = (await create_repair(app, settings, estate))["ref"]
    response = await call(app, settings, sup.contractor_lead, "GET", "/tasks?scope=all")
    assert [t["ref"] for t in response.json["items"]] == [job["ref"]]
    hidden = await call(app, settings, sup.contractor_lead, "GET", f"/tasks/{repair}")
    assert hidden.status == 404
    messages = await call(app, settings, sup.contractor_lead, "GET", f"/tasks/{repair}/deliveries")
    assert messages.status == 404
    shown = await call(app, settings, sup.contractor_staff, "GET", f"/tasks/{job['ref']}")
    assert shown.status == 200


async def test_contractor_cannot_act_on_other_tasks(app, settings):
    estate, sup, _ = await new_job(app, settings)
    repair = (await create_repair(app, settings, estate))["ref"]
    response = await call(app, settings, sup.contractor_lead, "POST", f"/tasks/{repair}/cancel", {})
    assert response.status == 404

"""Every catalog entry renders, and its fields obey WeChat's template and subscribe rules."""

import re

import jinja2
import pytest

from server.settings import load_settings
from templates_msg import SUBSCRIBE_LIMITS, catalog, render_message, render_text, subscribe_limit

SAMPLE = {
    "ref": "T1042",
    "place": "翠苑小区5号楼2单元302室，靠近东门的那一栋楼的卫生间",
    "category_name": "水管漏水",
    "deadline": "11-27 10:00",
    "description": "卫生间漏水",
    "staff_name": "王师傅",
    "clock_name": "到场",
    "assignee_name": "王强",
    "score": 2,
    "comment": "太慢",
}
# The kinds issue 4 names; each must have an entry.
KINDS = {
    "task_assigned",
    "task_accepted",
    "breach_warning",
    "task_escalated",
    "rate_request",
    "task_held",
    "task_resumed",
    "instruction",
    "rework",
    "notice",
    "poll_invitation",
    "poll_summary",
    "checkin_late",
    "arrears_reminder",
    "binding_result",
}
LONG = "这是一段特别特别长的文字，用来确认每个字段都会被截断而不会超出微信的限制" * 2


def values_for(kind: str) -> dict:
    return {**SAMPLE, **catalog()[kind].get("example", {})}


@pytest.mark.parametrize("kind", sorted(catalog()))
def test_every_catalog_entry_renders_within_wechat_rules(kind):
    rendered = render_message(kind, values_for(kind))
    assert rendered.text
    for key, value in rendered.template_fields.items():
        assert len(value) <= 20, (kind, key, value)
        assert "\n" not in value
        assert key not in ("first", "remark"), "WeChat dropped first/remark in 2023"


@pytest.mark.parametrize("kind", sorted(catalog()))
def test_every_entry_renders_from_its_own_example(kind):
    example = catalog()[kind].get("example")
    assert example, f"{kind} needs an example (docs/notifications.md, add a message template)"
    render_message(kind, example)  # nothing missing: StrictUndefined raises


@pytest.mark.parametrize("kind", sorted(catalog()))
def test_subscribe_fields_stay_within_their_type_limits_even_for_long_values(kind):
    long_values = {k: (LONG if isinstance(v, str) else v) for k, v in values_for(kind).items()}
    rendered = render_message(kind, long_values)
    assert rendered.subscribe_fields, f"{kind} has no subscribe field mapping"
    for key, value in rendered.subscribe_fields.items():
        assert re.sub(r"\d+$", "", key) in SUBSCRIBE_LIMITS, f"{kind}: unknown key type {key}"
        assert len(value) <= subscribe_limit(key), (kind, key, value)
        assert "\n" not in value


def test_issue_kinds_are_all_in_the_catalog():
    assert set(catalog()) >= KINDS


def test_sms_goes_only_for_kinds_with_params_and_a_template_code():
    settings = load_settings(env={})
    for kind in settings.sms_templates:
        assert catalog()[kind].get("sms"), f"{kind} has a TemplateCode but no SMS params"


def test_configured_kinds_exist_in_the_catalog():
    settings = load_settings(env={})
    for table in (
        settings.wechat_templates,
        settings.sms_templates,
        settings.miniapp_templates,
        settings.wechat_subscribe_templates,
    ):
        assert set(table) <= set(catalog())


def test_phrase_values_are_cut_to_five_characters():
    rendered = render_message("binding_result", {"place": "5号楼", "approved": True})
    assert len(rendered.subscribe_fields["phrase2"]) <= 5


def test_long_values_are_cut_with_an_ellipsis():
    rendered = render_message("task_assigned", SAMPLE)
    assert rendered.template_fields["thing2"].endswith("…")
    assert len(rendered.template_fields["thing2"]) == 20


def test_missing_variable_is_an_error_not_a_blank():
    with pytest.raises(jinja2.UndefinedError):
        render_message("task_assigned", {"ref": "T1"})
    with pytest.raises(jinja2.UndefinedError):
        render_text("task_accepted", ref="T1")


def test_every_template_kind_has_a_template_id_in_the_default_config():
    """A kind without an id could only reach people inside the 48 h customer-service window."""
    from server.settings import load_settings

    configured = load_settings(env={}).wechat_templates
    assert [k for k, v in catalog().items() if v.get("template") and k not in configured] == []

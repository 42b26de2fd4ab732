"""Every catalog entry renders, and template fields obey WeChat's 2023 rules."""

import jinja2
import pytest

from templates_msg import catalog, render_message, render_text

SAMPLE = {
    "ref": "T1042", "place": "翠苑小区5号楼2单元302室，靠近东门的那一栋楼的卫生间",
    "category_name": "水管漏水", "deadline": "11-27 10:00", "description": "卫生间漏水",
    "staff_name": "王师傅", "clock_name": "到场", "assignee_name": "王强", "score": 2,
    "comment": "太慢",
}


@pytest.mark.parametrize("kind", sorted(catalog()))
def test_every_catalog_entry_renders_within_wechat_rules(kind):
    rendered = render_message(kind, SAMPLE)
    assert rendered.text
    for key, value in rendered.template_fields.items():
        assert len(value) <= 20, (kind, key, value)
        assert "\n" not in value
        assert key not in ("first", "remark"), "WeChat dropped first/remark in 2023"


def test_long_values_are_cut_with_an_ellipsis():
    rendered = render_message("task_assigned", SAMPLE)
    assert rendered.template_fields["thing2"].endswith("…")
    assert len(rendered.template_fields["thing2"]) == 20


def test_missing_variable_is_an_error_not_a_blank():
    with pytest.raises(jinja2.UndefinedError):
        render_message("task_assigned", {"ref": "T1"})
    with pytest.raises(jinja2.UndefinedError):
        render_text("task_accepted", ref="T1")

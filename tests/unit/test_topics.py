"""MQTT topic contract (CONTRACT.md "MQTT (devices <-> hardware gateway)")."""

from __future__ import annotations

import pytest

from hardware_gateway import topics
from hardware_gateway.topics import Kind, Topics


def test_device_topics_follow_the_contract_layout() -> None:
    assert topics.device_request("sunny", "gate-1") == "wuye/sunny/devices/gate-1/request"
    assert topics.device_decision("sunny", "gate-1") == "wuye/sunny/devices/gate-1/decision"
    assert topics.device_command("sunny", "door-5") == "wuye/sunny/devices/door-5/command"
    assert topics.device_ack("sunny", "door-5") == "wuye/sunny/devices/door-5/ack"
    assert topics.device_state("sunny", "lift-2") == "wuye/sunny/devices/lift-2/state"
    assert topics.fire("sunny", "panel-1") == "wuye/sunny/fire/panel-1"


def test_community_filters_cover_every_device_of_one_community() -> None:
    assert topics.all_device_requests("sunny") == "wuye/sunny/devices/+/request"
    assert topics.all_device_decisions("sunny") == "wuye/sunny/devices/+/decision"
    assert topics.all_device_commands("sunny") == "wuye/sunny/devices/+/command"
    assert topics.all_device_acks("sunny") == "wuye/sunny/devices/+/ack"
    assert topics.all_device_states("sunny") == "wuye/sunny/devices/+/state"
    assert topics.all_fires("sunny") == "wuye/sunny/fire/+"
    assert topics.everything("sunny") == "wuye/sunny/#"


def test_parse_returns_community_kind_and_id() -> None:
    assert topics.parse("wuye/sunny/devices/gate-1/request") == ("sunny", "request", "gate-1")
    assert topics.parse("wuye/sunny/fire/panel-1") == ("sunny", Kind.FIRE, "panel-1")


@pytest.mark.parametrize("kind", ["request", "decision", "command", "ack", "state"])
def test_parse_reverses_every_device_builder(kind: str) -> None:
    build = getattr(topics, f"device_{kind}")
    parsed = topics.parse(build("c9", "dev-7"))
    assert (parsed.community, parsed.kind, parsed.id) == ("c9", kind, "dev-7")


@pytest.mark.parametrize(
    "topic",
    [
        "other/sunny/devices/gate-1/request",  # foreign prefix
        "wuye/sunny/devices/gate-1/reboot",  # unknown kind
        "wuye/sunny/devices/gate-1",  # too short
        "wuye/sunny/devices/gate-1/request/extra",  # too long
        "wuye/sunny/lights/gate-1/request",  # not a device topic
        "wuye/sunny/devices/+/request",  # a filter is not a topic
        "wuye//devices/gate-1/request",  # empty community
        "wuye/sunny/fire",  # fire without a panel
        "$SYS/broker/uptime",
    ],
)
def test_parse_refuses_foreign_topics(topic: str) -> None:
    with pytest.raises(ValueError):
        topics.parse(topic)


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "x#", "", "nul\x00"])
def test_ids_that_would_change_the_topic_shape_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        topics.device_request(bad, "gate-1")
    with pytest.raises(ValueError):
        topics.device_command("sunny", bad)
    with pytest.raises(ValueError):
        topics.fire("sunny", bad)
    with pytest.raises(ValueError):
        topics.all_device_requests(bad)


def test_a_prefix_isolates_topics_from_production_ones() -> None:
    test_topics = Topics("wuye_t1a2b3c")
    topic = test_topics.device_request("sunny", "gate-1")
    assert topic == "wuye_t1a2b3c/sunny/devices/gate-1/request"
    assert test_topics.parse(topic) == ("sunny", "request", "gate-1")
    with pytest.raises(ValueError):
        topics.parse(topic)
    with pytest.raises(ValueError):
        test_topics.parse(topics.device_request("sunny", "gate-1"))


@pytest.mark.parametrize("bad", ["a/b", "+", "#", ""])
def test_a_prefix_must_be_one_topic_level(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics(bad)

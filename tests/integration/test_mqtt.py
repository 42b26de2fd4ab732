"""MQTT connection layer: embedded amqtt broker or a real one (MQTT_URL), same client code."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from contextlib import aclosing, contextmanager

import pytest

from hardware_gateway.topics import Topics
from server.adapters.mqtt import (
    BrokerAddress,
    Client,
    EmbeddedBroker,
    EmbeddedBrokerError,
    Message,
    messages,
    mqtt_client,
    parse_mqtt_url,
    start_broker,
)

# Guard against a hang, not a wait: every message here arrives in milliseconds.
RECEIVE_TIMEOUT_S = 2.0


async def next_message(client: Client, *topic_filters: str) -> Message:
    """The next message matching the filters, read the way production code reads."""
    async with (
        asyncio.timeout(RECEIVE_TIMEOUT_S),
        aclosing(messages(client, *topic_filters)) as stream,
    ):
        return await anext(stream)


def payload(message: Message) -> dict[str, object]:
    assert isinstance(message.payload, bytes)
    decoded: dict[str, object] = json.loads(message.payload)
    return decoded


async def clear_retained(client: Client, topic: str) -> None:
    """An empty retained payload deletes the retained message (MQTT 3.1.1 §3.3.1.3)."""
    await client.publish(topic, b"", qos=1, retain=True)


@contextmanager
def port_1883_taken() -> Iterator[None]:
    """Make sure something listens on 127.0.0.1:1883 (Mosquitto usually does already)."""
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", 1883))
            holder.listen()
        except OSError:
            pass  # taken already: exactly the situation wanted
        yield


def test_mqtt_url_names_a_real_broker_or_the_embedded_one() -> None:
    assert parse_mqtt_url("embedded://") is None
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == BrokerAddress("127.0.0.1", 1884)
    assert parse_mqtt_url("mqtt://broker.local") == BrokerAddress("broker.local", 1883)


def test_mqtt_url_with_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="MQTT_URL"):
        parse_mqtt_url("http://127.0.0.1:1883")


async def test_device_request_reaches_the_gateway_subscriber(
    mqtt_broker: BrokerAddress, mqtt_prefix: str
) -> None:
    topics = Topics(mqtt_prefix)
    request = {
        "request_id": "r-1",
        "credential": {"type": "plate", "value": "沪A12345"},
        "ts": 1_790_000_000,
    }
    async with mqtt_client(mqtt_broker) as gateway, mqtt_client(mqtt_broker) as device:
        await gateway.subscribe(topics.all_device_requests("c1"), qos=1)
        await device.publish(
            topics.device_request("c1", "gate-1"), json.dumps(request).encode(), qos=1
        )
        message = await next_message(gateway, topics.all_device_requests("c1"))
    assert topics.parse(message.topic.value) == ("c1", "request", "gate-1")
    assert payload(message) == request


async def test_retained_device_state_reaches_a_later_subscriber(
    mqtt_broker: BrokerAddress, mqtt_prefix: str
) -> None:
    topics = Topics(mqtt_prefix)
    state_topic = topics.device_state("c1", "door-3")
    async with mqtt_client(mqtt_broker) as device:
        await device.publish(state_topic, b'{"online": true, "ts": 1790000000}', qos=1, retain=True)
        try:
            async with mqtt_client(mqtt_broker) as late:
                await late.subscribe(topics.all_device_states("c1"), qos=1)
                message = await next_message(late, topics.all_device_states("c1"))
        finally:
            await clear_retained(device, state_topic)
    assert message.topic.value == state_topic
    assert message.retain is True
    assert payload(message)["online"] is True


async def test_subscriber_never_sees_another_communitys_messages(
    mqtt_broker: BrokerAddress, mqtt_prefix: str
) -> None:
    topics = Topics(mqtt_prefix)
    other_state = topics.device_state("c2", "door-9")
    async with mqtt_client(mqtt_broker) as c2_gateway, mqtt_client(mqtt_broker) as devices:
        # A c2 subscription plus a retained c2 state: amqtt 0.12.1 pushes that state to every
        # client that connects afterwards, subscribed to it or not.
        await c2_gateway.subscribe(topics.everything("c2"), qos=1)
        await devices.publish(other_state, b'{"online": false}', qos=1, retain=True)
        try:
            async with mqtt_client(mqtt_broker) as c1_gateway:
                await c1_gateway.subscribe(topics.everything("c1"), qos=1)
                await devices.publish(topics.device_request("c2", "gate-9"), b"{}", qos=1)
                await devices.publish(topics.device_request("c1", "gate-1"), b"{}", qos=1)
                message = await next_message(c1_gateway, topics.everything("c1"))
        finally:
            await clear_retained(devices, other_state)
    assert topics.parse(message.topic.value) == ("c1", "request", "gate-1")


async def test_qos1_messages_arrive_in_order_as_qos1(
    mqtt_broker: BrokerAddress, mqtt_prefix: str
) -> None:
    topics = Topics(mqtt_prefix)
    command_topic = topics.device_command("c1", "lift-2")
    sent = [{"command_id": f"k{n}", "action": "open", "ts": n} for n in range(20)]
    received: list[Message] = []
    async with mqtt_client(mqtt_broker) as device, mqtt_client(mqtt_broker) as gateway:
        await device.subscribe(command_topic, qos=1)
        for command in sent:
            await gateway.publish(command_topic, json.dumps(command).encode(), qos=1)
        async with (
            asyncio.timeout(RECEIVE_TIMEOUT_S),
            aclosing(messages(device, command_topic)) as stream,
        ):
            async for message in stream:
                received.append(message)
                if len(received) == len(sent):
                    break
    assert [payload(m) for m in received] == sent
    assert {m.qos for m in received} == {1}


async def test_embedded_broker_listens_only_on_loopback() -> None:
    async with EmbeddedBroker() as broker:
        listening = broker.listening_on
        address = broker.address
    assert listening == [("127.0.0.1", address.port)]


async def test_embedded_broker_serves_on_another_port_when_1883_is_taken() -> None:
    with port_1883_taken():
        address, broker = await start_broker("embedded://", 0)
        assert broker is not None
        try:
            async with mqtt_client(address) as client:
                await client.subscribe("probe/#", qos=1)
                await client.publish("probe/x", b"ok", qos=1)
                message = await next_message(client, "probe/#")
        finally:
            await broker.stop()
    assert address.host == "127.0.0.1"
    assert address.port != 1883
    assert message.payload == b"ok"


async def test_embedded_broker_on_a_taken_port_fails_loudly() -> None:
    with port_1883_taken(), pytest.raises(EmbeddedBrokerError, match="1883"):
        await EmbeddedBroker(1883).start()


async def test_real_broker_url_starts_no_embedded_broker() -> None:
    address, broker = await start_broker("mqtt://127.0.0.1:1883")
    assert broker is None
    assert address == BrokerAddress("127.0.0.1", 1883)

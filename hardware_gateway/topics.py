"""The MQTT device topics of CONTRACT.md, built and parsed in this one module (stdlib only).

Layout: `{prefix}/{community}/devices/{device_id}/{request|decision|command|ack|state}` and
`{prefix}/{community}/fire/{panel_id}`; the prefix is `wuye` in production and unique per test,
so tests sharing one real broker never see each other's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

DEFAULT_PREFIX = "wuye"

# MQTT 3.1.1 §4.7: "/" separates levels, "+" and "#" are wildcards in filters and are not allowed
# in a topic name, and U+0000 is forbidden anywhere; one id must stay exactly one level.
_FORBIDDEN = frozenset("/+#\x00")


class Kind(StrEnum):
    """What a topic carries; the value is the last level of the topic (or `fire`)."""

    REQUEST = "request"
    DECISION = "decision"
    COMMAND = "command"
    ACK = "ack"
    STATE = "state"
    FIRE = "fire"


DEVICE_KINDS = frozenset({Kind.REQUEST, Kind.DECISION, Kind.COMMAND, Kind.ACK, Kind.STATE})


class TopicParts(NamedTuple):
    """A parsed topic: unpacks as `(community, kind, id)`; `id` is a device or panel id."""

    community: str
    kind: Kind
    id: str


def check_level(value: str, what: str = "topic level") -> str:
    """Return `value` if it is safe as one topic level, else raise ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    bad = _FORBIDDEN.intersection(value)
    if bad:
        raise ValueError(f"{what} {value!r} contains {''.join(sorted(bad))!r}")
    return value


@dataclass(frozen=True)
class Topics:
    """Topic builders under one prefix; `Topics("wuye_t1a2b")` isolates a test's traffic."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_level(self.prefix, "topic prefix")

    def _device(self, community: str, device_id: str, kind: Kind) -> str:
        community = check_level(community, "community")
        device_id = check_level(device_id, "device id")
        return f"{self.prefix}/{community}/devices/{device_id}/{kind}"

    def _all_devices(self, community: str, kind: Kind) -> str:
        return f"{self.prefix}/{check_level(community, 'community')}/devices/+/{kind}"

    def device_request(self, community: str, device_id: str) -> str:
        """Device -> gateway: a credential asking for entry."""
        return self._device(community, device_id, Kind.REQUEST)

    def device_decision(self, community: str, device_id: str) -> str:
        """Gateway -> device: allow or refuse a request (within 300 ms)."""
        return self._device(community, device_id, Kind.DECISION)

    def device_command(self, community: str, device_id: str) -> str:
        """Gateway -> device: open, close, release or restore."""
        return self._device(community, device_id, Kind.COMMAND)

    def device_ack(self, community: str, device_id: str) -> str:
        """Device -> gateway: the result of a command."""
        return self._device(community, device_id, Kind.ACK)

    def device_state(self, community: str, device_id: str) -> str:
        """Device, retained: whether it is online, so a late subscriber learns it at once."""
        return self._device(community, device_id, Kind.STATE)

    def fire(self, community: str, panel_id: str) -> str:
        """Fire panel -> gateway: alarm active or cleared."""
        community = check_level(community, "community")
        return f"{self.prefix}/{community}/fire/{check_level(panel_id, 'panel id')}"

    def all_device_requests(self, community: str) -> str:
        """Filter for every device request of one community (what the gateway subscribes to)."""
        return self._all_devices(community, Kind.REQUEST)

    def all_device_decisions(self, community: str) -> str:
        """Filter for every decision sent to one community's devices."""
        return self._all_devices(community, Kind.DECISION)

    def all_device_commands(self, community: str) -> str:
        """Filter for every command sent to one community's devices."""
        return self._all_devices(community, Kind.COMMAND)

    def all_device_acks(self, community: str) -> str:
        """Filter for every command ack from one community's devices."""
        return self._all_devices(community, Kind.ACK)

    def all_device_states(self, community: str) -> str:
        """Filter for every retained device state of one community."""
        return self._all_devices(community, Kind.STATE)

    def all_fires(self, community: str) -> str:
        """Filter for every fire panel of one community."""
        return f"{self.prefix}/{check_level(community, 'community')}/fire/+"

    def everything(self, community: str) -> str:
        """Filter for all device traffic of one community."""
        return f"{self.prefix}/{check_level(community, 'community')}/#"

    def parse(self, topic: str) -> TopicParts:
        """Split a device or fire topic under this prefix; ValueError for anything else."""
        levels = topic.split("/")
        if levels[0] != self.prefix:
            raise ValueError(f"topic {topic!r} is not under prefix {self.prefix!r}")
        try:
            for level in levels[1:]:
                check_level(level)
        except ValueError as exc:
            raise ValueError(f"topic {topic!r}: {exc}") from None
        match levels[1:]:
            case [community, "devices", device_id, kind] if kind in DEVICE_KINDS:
                return TopicParts(community, Kind(kind), device_id)
            case [community, "fire", panel_id]:
                return TopicParts(community, Kind.FIRE, panel_id)
        raise ValueError(f"topic {topic!r} is not a device or fire topic")


# Production topics under `wuye/`; code that serves one site just calls these.
DEFAULT = Topics()
device_request = DEFAULT.device_request
device_decision = DEFAULT.device_decision
device_command = DEFAULT.device_command
device_ack = DEFAULT.device_ack
device_state = DEFAULT.device_state
fire = DEFAULT.fire
all_device_requests = DEFAULT.all_device_requests
all_device_decisions = DEFAULT.all_device_decisions
all_device_commands = DEFAULT.all_device_commands
all_device_acks = DEFAULT.all_device_acks
all_device_states = DEFAULT.all_device_states
all_fires = DEFAULT.all_fires
everything = DEFAULT.everything
parse = DEFAULT.parse

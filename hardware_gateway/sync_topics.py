"""The server <-> gateway MQTT topics (our own contract, docs/gateway.md), built here only.

Layout under the same prefix as the device topics (`wuye` in production):
`{prefix}/{community}/gateway/policy` (retained snapshot), `.../gateway/policy/delta` (retained
delta), `.../gateway/commands`, and per gateway `.../gateway/{gateway_id}/events`,
`.../events/ack` and `.../state` (retained heartbeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from hardware_gateway.topics import DEFAULT_PREFIX, check_level

# Names used as fixed levels right under `gateway/`; a gateway id must not shadow them.
RESERVED_GATEWAY_IDS = frozenset({"policy", "commands"})


class SyncKind(StrEnum):
    POLICY = "policy"
    DELTA = "delta"
    COMMANDS = "commands"
    EVENTS = "events"
    EVENTS_ACK = "events_ack"
    STATE = "state"


class SyncTopicParts(NamedTuple):
    """A parsed server <-> gateway topic; `gateway_id` is empty for community-wide topics."""

    community: str
    kind: SyncKind
    gateway_id: str


def check_gateway_id(gateway_id: str) -> str:
    """Return `gateway_id` if usable as a topic level and not a reserved name."""
    check_level(gateway_id, "gateway id")
    if gateway_id in RESERVED_GATEWAY_IDS:
        raise ValueError(f"gateway id {gateway_id!r} is reserved")
    return gateway_id


@dataclass(frozen=True)
class SyncTopics:
    """Topic builders under one prefix; tests pass their own prefix to stay isolated."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_level(self.prefix, "topic prefix")

    def _base(self, community: str) -> str:
        return f"{self.prefix}/{check_level(community, 'community')}/gateway"

    def policy(self, community: str) -> str:
        """Server -> gateway, retained: the whole policy snapshot."""
        return f"{self._base(community)}/policy"

    def policy_delta(self, community: str) -> str:
        """Server -> gateway, retained: the change from the previous snapshot version."""
        return f"{self._base(community)}/policy/delta"

    def commands(self, community: str) -> str:
        """Server -> gateway: open/close/release/restore with command_id and expires_at."""
        return f"{self._base(community)}/commands"

    def events(self, community: str, gateway_id: str) -> str:
        """Gateway -> server: a batch of buffered site events."""
        return f"{self._base(community)}/{check_gateway_id(gateway_id)}/events"

    def events_ack(self, community: str, gateway_id: str) -> str:
        """Server -> gateway: a batch is stored and may be dropped from the buffer."""
        return f"{self._base(community)}/{check_gateway_id(gateway_id)}/events/ack"

    def state(self, community: str, gateway_id: str) -> str:
        """Gateway, retained: heartbeat (online, policy version, fire, buffered events)."""
        return f"{self._base(community)}/{check_gateway_id(gateway_id)}/state"

    def all_events(self) -> str:
        """Filter for every gateway's event batches (what the server subscribes to)."""
        return f"{self.prefix}/+/gateway/+/events"

    def all_states(self) -> str:
        """Filter for every gateway's heartbeat."""
        return f"{self.prefix}/+/gateway/+/state"

    def parse(self, topic: str) -> SyncTopicParts:
        """Split a server <-> gateway topic under this prefix; ValueError for anything else."""
        levels = topic.split("/")
        if levels[0] != self.prefix or len(levels) < 4 or levels[2] != "gateway":
            raise ValueError(f"topic {topic!r} is not a gateway topic under {self.prefix!r}")
        for level in levels[1:]:
            check_level(level)
        match levels[1:]:
            case [community, "gateway", "policy"]:
                return SyncTopicParts(community, SyncKind.POLICY, "")
            case [community, "gateway", "policy", "delta"]:
                return SyncTopicParts(community, SyncKind.DELTA, "")
            case [community, "gateway", "commands"]:
                return SyncTopicParts(community, SyncKind.COMMANDS, "")
            case [community, "gateway", gateway_id, "events"]:
                return SyncTopicParts(community, SyncKind.EVENTS, gateway_id)
            case [community, "gateway", gateway_id, "events", "ack"]:
                return SyncTopicParts(community, SyncKind.EVENTS_ACK, gateway_id)
            case [community, "gateway", gateway_id, "state"]:
                return SyncTopicParts(community, SyncKind.STATE, gateway_id)
        raise ValueError(f"topic {topic!r} is not a gateway topic")


DEFAULT = SyncTopics()

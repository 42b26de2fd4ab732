"""`python -m hardware_gateway --community CODE`: run one site's gateway until SIGINT/SIGTERM.

`--mqtt-url` is the site broker the devices use (default: MQTT_URL); `--server-mqtt-url` the
broker the server publishes policies on, when it is another one. Both accept
`mqtt://user:password@host:port` so each gateway logs in with its own credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from hardware_gateway.gateway import Gateway
from hardware_gateway.link import parse_url
from hardware_gateway.topics import DEFAULT_PREFIX, Topics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hardware_gateway", description=__doc__)
    parser.add_argument("--community", required=True, help="community code, e.g. cuiyuan")
    parser.add_argument(
        "--mqtt-url",
        default=os.environ.get("MQTT_URL", ""),
        help="site broker, mqtt://[user:pass@]host:port (default: $MQTT_URL)",
    )
    parser.add_argument(
        "--server-mqtt-url", default="", help="the server's broker when it is not the site broker"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the policy and event buffer live (default: data/gateway/CODE)",
    )
    parser.add_argument("--gateway-id", default=None, help="default: gw-CODE")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix (default: wuye)")
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    return parser


async def run(args: argparse.Namespace) -> int:
    if not args.mqtt_url.startswith("mqtt://"):
        print("the gateway needs --mqtt-url mqtt://host:port (or MQTT_URL)", file=sys.stderr)
        return 2
    devices = parse_url(args.mqtt_url)
    upstream = parse_url(args.server_mqtt_url) if args.server_mqtt_url else devices
    gateway = Gateway(
        args.community,
        devices=devices,
        upstream=upstream,
        state_dir=args.state_dir or Path("data") / "gateway" / args.community,
        gateway_id=args.gateway_id,
        topics=Topics(args.prefix),
        heartbeat_s=args.heartbeat_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("wuye.gateway").info(
        "gateway %s for %s: policy version %s",
        gateway.gateway_id,
        args.community,
        gateway.policy_version,
    )
    await gateway.run(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

"""Started by tests/test_reliability.py: start Ray as ``nas search`` does, print one JSON line
(the Ray processes this driver started, the TCP sockets they listen on), then wait to be
killed (``kill -9``: the reaper must stop those processes) or for stdin to close."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import ray

from nas.evaluators.cluster import Resources, connect_ray, disconnect_ray
from nas.evaluators.reaper import children_of, descendants


def listening() -> dict[int, str]:
    """Socket inode -> "ip:port" of every TCP socket in LISTEN state on this machine."""
    out = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/net/{name}") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A":  # LISTEN
                    continue
                ip_hex, port = fields[1].split(":")
                raw = bytes.fromhex(ip_hex)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                out[int(fields[9])] = f"{socket.inet_ntop(family, words)}:{int(port, 16)}"
    return out


def sockets_of(pids: list[int]) -> dict[str, list[str]]:
    listen = listening()
    found: dict[str, list[str]] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and int(link[8:-1]) in listen:
                found.setdefault(f"{name} {pid}", []).append(listen[int(link[8:-1])])
    return found


def main() -> None:
    listen_all = "--listen-all" in sys.argv
    assert connect_ray(Resources(listen_all=listen_all))

    @ray.remote
    def pid() -> int:
        return os.getpid()

    ray.get(pid.remote())  # a worker process, too
    time.sleep(1)
    tree = [p for p in descendants([os.getpid()]) if p != os.getpid()]
    print(json.dumps({"ray": children_of(os.getpid()), "tree": tree,
                      "sockets": sockets_of([os.getpid(), *tree])}), flush=True)
    sys.stdin.read()  # until the test closes it (or kills us)
    disconnect_ray()


if __name__ == "__main__":
    main()

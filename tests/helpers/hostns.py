"""Network namespaces that stand for "the host" and for "the outside", for tests that
change netfilter and sysctls: the real host's ruleset, ip_forward and FORWARD policy are
never touched (other test runs share this host).

    with HostNamespace() as host:                  # own netns, loopback, sysfs, ruleset
        host.run(["iptables-nft", "-P", "FORWARD", "DROP"])
        host.run(project.cli("up", "-d", ...), env=...)   # the CLI, its supervisor and
                                                          # services all live inside
        with Outside(host) as world:               # another netns, 198.51.100.1, reached
            world.serve(PORT)                      # from the host netns through a veth

The host namespace has its own mount namespace with a sysfs of its own (so
/sys/class/net lists its links), the real cgroup hierarchies moved back under
/sys/fs/cgroup, and br_netfilter's bridge-nf-call-iptables set to 1 in it (the per
network namespace sysctl). Commands run inside through nsenter.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HOST_SCRIPT = """
set -e
cgroups=$(mktemp -d)
mount --rbind /sys/fs/cgroup "$cgroups"
mount -t sysfs sysfs /sys
mount --move "$cgroups" /sys/fs/cgroup
rmdir "$cgroups"
ip link set lo up
echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
echo ready
exec sleep infinity
"""
OUTSIDE = "198.51.100.1"  # TEST-NET-2: only ever inside these namespaces
HOST_UPLINK = "198.51.100.2"
COUNTERS = re.compile(r"\[\d+:\d+\]")

ECHO_PEER = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    conn, peer = server.accept()
    with conn:
        conn.sendall(peer[0].encode())
"""


class Namespace:
    """A `sleep` holding namespaces made by `unshare ARGS`; commands enter them."""

    def __init__(self, unshare_args: list[str], script: str, enter: list[str]):
        self._enter = enter
        argv = ["unshare", *unshare_args, "sh", "-c", script]
        self.holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise RuntimeError(f"namespace holder failed to start: {line!r}")

    @property
    def pid(self) -> int:
        return self.holder.pid

    def argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), *self._enter, "--", *argv]

    def run(
        self, argv: list[str], check: bool = True, timeout: float = 120, **kwargs
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(argv), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def sh(self, script: str) -> str:
        return self.run(["sh", "-ec", script]).stdout

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.send_signal(signal.SIGKILL)
        self.holder.wait()
        if self.holder.stdout is not None:
            self.holder.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HostNamespace(Namespace):
    def __init__(self) -> None:
        super().__init__(["--net", "--mount"], HOST_SCRIPT, ["-n", "-m"])

    def snapshot(self) -> dict[str, str]:
        """The namespace's netfilter and forwarding, as text without counters: nftables
        (iptables-nft included), iptables-nft-save, iptables-legacy-save, ip_forward."""
        legacy = self.run(["cat", "/proc/net/ip_tables_names"]).stdout.split()
        texts = {
            "nft list ruleset": self.run(["nft", "-s", "list", "ruleset"]).stdout,
            "iptables-nft-save": self.run(["iptables-nft-save"]).stdout,
            "iptables-legacy-save": self.run(["iptables-legacy-save"]).stdout if legacy else "",
            "ip_forward": self.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout,
        }
        return {name: _without_counters(text) for name, text in texts.items()}

    def set_forwarding(self, value: str) -> None:
        """net.ipv4.ip_forward of this namespace. A new one starts with the host's value
        (net.core.devconf_inherit_init_net=0, the default), which a test must not assume."""
        path = "/proc/sys/net/ipv4/ip_forward"
        assert self.sh(f"echo {value} > {path}; cat {path}").strip() == value

    def python(self, code: str, *args: str) -> str:
        return self.run([sys.executable, "-c", code, *args]).stdout


class Outside(Namespace):
    """Another network namespace, linked to the host namespace by a veth: 198.51.100.1
    here, 198.51.100.2 on the host's side, which routes everything else through it."""

    def __init__(self, host: HostNamespace):
        super().__init__(["--net"], "ip link set lo up; echo ready; exec sleep infinity", ["-n"])
        self.servers: list[subprocess.Popen] = []
        host.sh(
            f"ip link add uplink type veth peer name eth0 netns {self.pid}\n"
            f"ip addr add {HOST_UPLINK}/24 dev uplink\n"
            "ip link set uplink up\n"
            f"ip route add default via {OUTSIDE}"
        )
        self.sh(f"ip addr add {OUTSIDE}/24 dev eth0; ip link set eth0 up")

    def serve(self, port: int) -> None:
        """A TCP server answering each connection with the client's address, then closing."""
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
            script.write(ECHO_PEER)
        argv = self.argv([sys.executable, script.name, str(port)])
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.servers.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        Path(script.name).unlink()

    def connect(self, address: str, port: int) -> str:
        """Connect from here; what the server answered, or the error's name."""
        return self.run([sys.executable, "-c", CONNECT, address, str(port)]).stdout.strip()

    def close(self) -> None:
        for server in self.servers:
            server.kill()
            server.wait()
            if server.stdout is not None:
                server.stdout.close()
        super().close()


CONNECT = """
import errno, socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
        print(conn.recv(200).decode())
except TimeoutError:
    print("timeout")
except OSError as error:
    print(errno.errorcode.get(error.errno or 0, str(error)))
"""


def _without_counters(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return "\n".join(COUNTERS.sub("[0:0]", line) for line in lines)

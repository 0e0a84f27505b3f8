"""The stack network as `stackrun up -d` builds it from the CLI: host facts taken from
the host (routes, bridges), /etc/hosts replaced in running services, published ports
that the kernel chooses, and ports of a service sharing another's network."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from tests.integration.test_up_down import TRAPPER, Cli, cli, running  # noqa: F401 - fixture

SLEEPER = f'command: ["sh", "-c", "{TRAPPER}"]'


def exec_in(cli: Cli, service: str, *argv: str) -> str:
    done = cli.run("exec", "-T", service, *argv)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_running_service_sees_a_new_peer_in_its_replaced_hosts_file(cli):
    cli.write(f"services:\n  reader: {{{SLEEPER}}}\n")
    assert cli.run("up", "-d").returncode == 0
    pid = cli.instances()["reader"].pid
    assert "peer" not in exec_in(cli, "reader", "cat", "/etc/hosts")
    cli.write(f"services:\n  reader: {{{SLEEPER}}}\n  peer: {{{SLEEPER}}}\n")
    again = cli.run("up", "-d")
    assert again.returncode == 0, again.stderr
    assert cli.instances()["reader"].pid == pid  # not recreated: its file was replaced
    hosts = exec_in(cli, "reader", "cat", "/etc/hosts")
    peer = cli.instances()["peer"].addresses[0].split("/")[0]
    assert any(line.split() == [peer, "peer"] or line.split()[:2] == [peer, "peer"]
               for line in hosts.splitlines()), hosts
    assert exec_in(cli, "reader", "getent", "hosts", "peer").split()[0] == peer

"""The probes that held in the review, kept as regression tests: from inside a service,
another stack's process cannot be signalled or traced (it is not even visible), /proc/sys
cannot be written (read-only, and in the service's user namespace its files are not
root's), mount(2), keyctl(2) and unshare(2) are refused — for a service with the
defaults, a locked-down one, and one in the host's network namespace.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers.attacks import hostile, result, start

SERVICES = ("default", "locked", "hostnet")
REFUSED = {
    "proc_sys": "EACCES",  # the host's root owns it: nobody's, to the service's root
    "mount": "EPERM",
    "keyctl": "EPERM",  # seccomp: the keyring is not namespaced
    "unshare_user": "EPERM",  # seccomp, as Docker's default profile
    "unshare_mnt": "EPERM",  # no CAP_SYS_ADMIN
}


@pytest.fixture(scope="module")
def attacker(arena):
    victim = arena.victim.statuses()["db"].pid
    args = {"pids": [victim, os.getpid()]}
    services = {
        "default": hostile("held", args),
        "locked": hostile("held", args, read_only=True, cap_drop=["ALL"], network_mode="none"),
        "hostnet": hostile("held", args, network_mode="host"),
    }
    stack = arena.new_stack()
    start(stack, services)
    return stack, [str(victim), str(os.getpid())]


@pytest.mark.parametrize("service", SERVICES)
def test_other_processes_cannot_be_signalled_or_traced(attacker, service):
    stack, pids = attacker
    seen = result(stack, service)
    assert seen["kill"] == dict.fromkeys(pids, "ESRCH")
    assert seen["ptrace"] == dict.fromkeys(pids, "ESRCH")


@pytest.mark.parametrize("service", SERVICES)
def test_kernel_interfaces_stay_closed(attacker, service):
    stack, _pids = attacker
    seen = result(stack, service)
    # network_mode: host is in the host's user namespace (Stack.userns_mode): root there
    # owns /proc/sys, which the read-only mount refuses
    expected = REFUSED | ({"proc_sys": "EROFS"} if service == "hostnet" else {})
    assert {key: seen[key] for key in REFUSED} == expected

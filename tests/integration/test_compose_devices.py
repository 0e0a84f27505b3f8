"""`devices` and `device_cgroup_rules` through the CLI, on the real kernel: a device
granted opens with the access it was granted, one that is only bound in (a volume of a
host node) does not, unless a rule lets it.

/dev/net/tun (10:200) and /dev/fuse (10:229) are not in the standard list; opening
either needs no capability, so the device cgroup alone decides.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.helpers.stackcli import stack_project

pytestmark = pytest.mark.integration

TUN, FUSE = "/dev/net/tun", "/dev/fuse"
OPEN = """
import errno, json, os, sys, time
seen = {}
for spec in sys.argv[1:]:
    path, mode = spec.rsplit("=", 1)
    try:
        os.close(os.open(path, os.O_RDWR if mode == "rw" else os.O_RDONLY))
        seen[spec] = "ok"
    except OSError as error:
        seen[spec] = errno.errorcode.get(error.errno, str(error.errno))
print(json.dumps(seen), flush=True)
time.sleep(300)
"""


def service(*opens: str, **keys: object) -> dict:
    return {"command": ["python3", "-I", "-c", OPEN, *opens], **keys}


SERVICES = {
    "granted": service(f"{TUN}=rw", "/tmp/fuse=r", devices=[TUN], volumes=[f"{FUSE}:/tmp/fuse"]),
    "renamed": service("/dev/mytun=r", "/dev/mytun=rw", devices=[f"{TUN}:/dev/mytun:r"]),
    "directory": service(f"{TUN}=rw", devices=["/dev/net"]),
    # in the host's user namespace, as those granted devices are: the cgroup refuses it (in
    # a user namespace the node's mode would, first: EACCES)
    "bound": service("/tmp/tun=r", volumes=[f"{TUN}:/tmp/tun"], userns_mode="host"),
    "ruled": service(
        "/tmp/tun=rw", volumes=[f"{TUN}:/tmp/tun"], device_cgroup_rules=["c 10:200 rw"]
    ),
}


@pytest.mark.skipif(
    not (os.path.exists(TUN) and os.path.exists(FUSE)), reason="needs /dev/net/tun and /dev/fuse"
)
def test_a_granted_device_opens_and_an_only_bound_one_does_not():
    with stack_project("devices") as stack:
        stack.write(yaml.safe_dump({"services": SERVICES}))
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stderr
        seen = {}

        def reported(_statuses) -> bool:
            for name in SERVICES:
                lines = [line["line"] for line in stack.log(name)]
                if lines:
                    seen[name] = json.loads(lines[0])
            return len(seen) == len(SERVICES)

        stack.wait(reported)
        assert seen == {
            "granted": {f"{TUN}=rw": "ok", "/tmp/fuse=r": "EPERM"},  # fuse: bound, not granted
            "renamed": {"/dev/mytun=r": "ok", "/dev/mytun=rw": "EPERM"},  # granted r only
            "directory": {f"{TUN}=rw": "ok"},
            "bound": {"/tmp/tun=r": "EPERM"},
            "ruled": {"/tmp/tun=rw": "ok"},
        }
        assert stack.down("-t", "1").returncode == 0

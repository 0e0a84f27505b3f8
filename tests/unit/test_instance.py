"""Per-instance files written on the host before spawning."""

import os
from pathlib import Path

from stackrun.plan.model import HostEntry, Mount, ServicePlan
from stackrun.runtime import instance
from stackrun.runtime.instance import resolv_conf_text


def test_resolv_conf_keeps_search_and_drops_loopback_servers():
    host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions edns0\n"
    assert resolv_conf_text((), host) == ("nameserver 192.0.2.1\nsearch lan\noptions edns0\n")


def test_resolv_conf_falls_back_to_public_servers_like_docker():
    text = resolv_conf_text((), "nameserver 127.0.0.53\n")
    assert text == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_resolv_conf_uses_the_stack_file_dns():
    assert resolv_conf_text(("1.1.1.1",), "nameserver 192.0.2.1\nsearch x\n") == (
        "nameserver 1.1.1.1\nsearch x\n"
    )


def test_prepare_writes_the_files_and_creates_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    volume, bind = tmp_path / "data" / "vol", tmp_path / "project" / "cache"
    plan = ServicePlan(
        name="api-1",
        service="api",
        replica=1,
        argv=("true",),
        env=(),
        hostname="web",
        hosts=(HostEntry("10.89.0.3", ("api-1", "api")),),
        rootfs=str(tmp_path / "root"),
        mounts=(Mount("volume", "/data", str(volume)), Mount("bind", "/cache", str(bind))),
    )
    layout = instance.prepare("demo", plan)
    assert layout.root == str(tmp_path / "run" / "demo" / "instances" / "api-1")
    assert Path(layout.hostname).read_text() == "web\n"
    assert "10.89.0.3\tapi-1 api\n" in Path(layout.hosts).read_text()
    assert oct(os.stat(layout.hosts).st_mode & 0o777) == "0o644"
    assert all(os.path.isdir(p) for p in (layout.upper, layout.work, layout.merged))
    assert volume.is_dir() and bind.is_dir()
    instance.discard("demo", "api-1")
    assert not os.path.exists(layout.root)


def test_prepare_leaves_missing_bind_sources_alone_when_told(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    source = tmp_path / "absent"
    plan = ServicePlan(
        name="a",
        service="a",
        replica=1,
        argv=("true",),
        env=(),
        mounts=(Mount("bind", "/x", str(source), create_host_path=False),),
    )
    instance.prepare("demo", plan)
    assert not source.exists()

"""Per-instance files written on the host before spawning."""

import os
from dataclasses import replace
from pathlib import Path

from stackrun.plan.model import GrantedFile, HostEntry, Mount, ServicePlan
from stackrun.runtime import instance
from stackrun.runtime.instance import resolv_conf_text


def dns(servers=(), search=(), options=()) -> ServicePlan:
    return ServicePlan(
        "a", "a", 1, ("true",), (), dns=servers, dns_search=search, dns_options=options
    )


def test_resolv_conf_keeps_search_and_drops_loopback_servers():
    host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions edns0\n"
    assert resolv_conf_text(dns(), host) == ("nameserver 192.0.2.1\nsearch lan\noptions edns0\n")


def test_resolv_conf_falls_back_to_public_servers_like_docker():
    text = resolv_conf_text(dns(), "nameserver 127.0.0.53\n")
    assert text == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_resolv_conf_uses_the_stack_file_dns():
    assert resolv_conf_text(dns(("1.1.1.1",)), "nameserver 192.0.2.1\nsearch x\n") == (
        "nameserver 1.1.1.1\nsearch x\n"
    )


def test_resolv_conf_search_and_options_from_the_stack_file_replace_the_hosts():
    host = "nameserver 192.0.2.1\nsearch lan\noptions edns0\n"
    text = resolv_conf_text(dns(search=("a.example", "b.example"), options=("ndots:2",)), host)
    assert text == "nameserver 192.0.2.1\nsearch a.example b.example\noptions ndots:2\n"


def test_resolv_conf_follows_the_hosts_file_and_the_plan_each_time():
    first, second = "nameserver 192.0.2.1\n", "nameserver 192.0.2.2\nsearch lan\n"
    seen = [
        resolv_conf_text(dns(), first),
        resolv_conf_text(dns(), second),
        resolv_conf_text(dns(search=("x",)), second),
        resolv_conf_text(dns(), first),
    ]
    assert seen == [
        "nameserver 192.0.2.1\n",
        "nameserver 192.0.2.2\nsearch lan\n",
        "nameserver 192.0.2.2\nsearch x\n",
        "nameserver 192.0.2.1\n",
    ]


def test_prepare_copies_secrets_and_configs_with_their_mode_and_owner(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    source = tmp_path / "token.txt"
    source.write_text("from a file\n")
    files = (
        GrantedFile("secret", "token", "/run/secrets/token", 0o440, 1234, 5678, str(source)),
        GrantedFile("config", "app", "/etc/app.conf", 0o666, content="debug=1\n"),
    )
    plan = ServicePlan("a", "a", 1, ("true",), (), files=files)
    layout = instance.prepare("demo", plan)
    token, app = os.stat(layout.granted(0)), os.stat(layout.granted(1))
    assert Path(layout.granted(0)).read_text() == "from a file\n"
    assert (token.st_mode & 0o7777, token.st_uid, token.st_gid) == (0o440, 1234, 5678)
    assert Path(layout.granted(1)).read_text() == "debug=1\n"
    assert (app.st_mode & 0o7777, app.st_uid, app.st_gid) == (0o444, 0, 0)  # no write bits
    assert "debug=1" not in repr(plan)


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
    assert all(os.path.isdir(p) for p in (layout.upper, layout.work))
    assert not os.path.exists(layout.merged)  # the root is attached on layout.root
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


def test_prepare_again_replaces_each_file_whole_and_leaves_nothing_else(tmp_path, monkeypatch):
    """A fresh instance's files are written in place; at a restart each is renamed over
    the old one: a bind mount (here an open file) of the old one keeps its whole text."""
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    plan = ServicePlan("api-1", "api", 1, ("true",), (), hostname="web")
    layout = instance.prepare("demo", plan)
    names = sorted(os.listdir(layout.root))
    assert names == ["hostname", "hosts", "resolv.conf"]
    with open(layout.hostname) as held:
        instance.prepare("demo", replace(plan, hostname="web2"))
        assert held.read() == "web\n"
    assert Path(layout.hostname).read_text() == "web2\n"
    assert sorted(os.listdir(layout.root)) == names  # no temporary left
    assert all(os.stat(f"{layout.root}/{n}").st_mode & 0o777 == 0o644 for n in names)

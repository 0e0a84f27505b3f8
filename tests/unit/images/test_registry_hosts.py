"""Which registries may be reached over plain HTTP."""

from __future__ import annotations

import json

from stackrun.images.registry.hosts import INSECURE_ENV, host_of, is_insecure, is_loopback


def test_loopback_registries_are_insecure(tmp_path):
    none = tmp_path / "absent.json"
    for registry in ("localhost:5000", "localhost", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"):
        assert is_insecure(registry, {}, none), registry
        assert is_loopback(registry)
    for registry in ("docker.io", "ghcr.io", "10.0.0.1:5000", "localhost.example.com"):
        assert not is_insecure(registry, {}, none), registry


def test_listed_by_environment_host_port_or_cidr(tmp_path):
    environ = {INSECURE_ENV: "reg.lan:5000, 10.1.0.0/16 ,plain.example"}
    none = tmp_path / "absent.json"
    assert is_insecure("reg.lan:5000", environ, none)
    assert not is_insecure("reg.lan:6000", environ, none)
    assert is_insecure("10.1.2.3:443", environ, none)
    assert not is_insecure("10.2.0.1", environ, none)
    assert is_insecure("plain.example:8080", environ, none)  # a bare host lists every port


def test_listed_in_dockers_daemon_json(tmp_path):
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"insecure-registries": ["myreg.corp:5000", "192.168.9.0/24"]}))
    assert is_insecure("myreg.corp:5000", {}, daemon)
    assert is_insecure("192.168.9.40:5000", {}, daemon)
    daemon.write_text("{ not json")
    assert not is_insecure("myreg.corp:5000", {}, daemon)


def test_host_of():
    assert host_of("[::1]:5000") == "::1"
    assert host_of("a.b:1") == "a.b"
    assert host_of("a.b") == "a.b"

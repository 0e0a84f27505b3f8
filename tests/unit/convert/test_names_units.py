"""Kubernetes' naming rules and units, as the converter applies them."""

from __future__ import annotations

import pytest

from stackrun.convert import names, units


@pytest.mark.parametrize(
    ("compose", "kubernetes"),
    [("api", "api"), ("My_DB", "my-db"), ("web.front", "web-front"), ("1api", None),
     ("a" * 64, None), ("a_", None)],
)  # fmt: skip
def test_dns_name(compose, kubernetes):
    assert names.dns_name(compose) == kubernetes


def test_registry_hands_out_each_name_once_and_valid():
    taken = names.Registry()
    assert [taken.claim(w) for w in ("app", "app", "tmpfs-", "-", "x" * 70)] == [
        "app",
        "app-2",
        "tmpfs",
        "unnamed",
        "x" * 54 + "-" + names.fit("x" * 70)[-8:],
    ]
    assert all(names.is_dns_label(name) for name in taken.taken)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("http", True), ("tcp-8080", True), ("8080", False), ("a--b", False),
     ("way-too-long-name", False), ("Http", False)],
)  # fmt: skip
def test_port_names(name, valid):
    assert names.is_port_name(name) is valid


@pytest.mark.parametrize(
    ("key", "valid"),
    [("com.example/role", True), ("role", True), ("not a key!", False), ("-x", False),
     ("example.com/" + "a" * 64, False), ("Bad_Prefix/x", False)],
)  # fmt: skip
def test_qualified_names(key, valid):
    assert names.is_qualified_name(key) is valid


def test_label_value_is_cut_to_a_valid_one():
    assert names.label_value("my_project_") == "my_project"
    assert names.is_label_value(names.label_value("x" * 100 + "!"))


@pytest.mark.parametrize(
    ("size", "quantity"),
    [(67108864, "64Mi"), (1 << 30, "1Gi"), (1536 << 20, "1536Mi"), (300000000, "300000000"),
     (4096, "4Ki")],
)  # fmt: skip
def test_memory(size, quantity):
    assert units.memory(size) == quantity
    assert units.quantity(quantity) == size


@pytest.mark.parametrize(
    ("cpus", "quantity"), [(1, "1"), (0.5, "500m"), (1.5, "1500m"), (0.0001, "1m"), (2.0, "2")]
)
def test_cpu(cpus, quantity):
    assert units.cpu(cpus) == quantity


def test_cpu_shares_is_the_request_the_kubelet_turns_back_into_them():
    assert units.cpu_of_shares(512) == "500m" and units.cpu_of_shares(1024) == "1"


def test_seconds_round_up_with_a_floor():
    assert [units.seconds(s) for s in (0.2, 1.0, 1.0000000001, 2.5, 0)] == [1, 1, 1, 3, 1]
    assert units.seconds(0, least=0) == 0


@pytest.mark.parametrize("text", ["1Gi", "500m", "2", "1e3", "0.5", "128M"])
def test_quantities(text):
    assert units.is_quantity(text)


@pytest.mark.parametrize("text", ["1GB", "1 Gi", "-1", "Gi", ""])
def test_not_quantities(text):
    assert not units.is_quantity(text)

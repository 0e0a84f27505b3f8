from stackrun.plan.names import IFNAMSIZ, ProjectNames, instance_name, log_prefix, selects, slot


def test_interface_names_fit_ifnamsiz_and_carry_the_project_prefix():
    names = ProjectNames("a-very-long-project-name-indeed")
    for index in (0, 1, 255, 0xFFFFF):
        assert len(names.bridge(index)) <= IFNAMSIZ
        assert len(names.veth(index)) <= IFNAMSIZ
        assert names.veth(index).startswith(names.link_prefix[1])


def test_two_projects_never_share_interface_names():
    assert ProjectNames("web").veth(0) != ProjectNames("web2").veth(0)
    assert ProjectNames("web").bridge(0) != ProjectNames("web2").bridge(0)


def test_instances_are_named_as_compose_names_containers():
    assert instance_name("web", "api", 1) == "web-api-1"
    assert instance_name("web", "worker", 2) == "web-worker-2"
    assert slot("worker", 2) == "worker-2"


def test_kernel_names_use_the_slot_and_stay_under_the_project_prefix():
    names = ProjectNames("web")
    assert names.cgroup(slot("api", 1)) == "stackrun-web/api-1"


def test_the_log_prefix_drops_the_project_and_keeps_a_container_name_whole():
    assert log_prefix("web", "web-worker-2") == "worker-2"
    assert log_prefix("web", "my-db") == "my-db"
    assert log_prefix("web", "webapp-api-1") == "webapp-api-1"


def test_a_name_on_the_command_line_selects_by_service_instance_or_slot():
    for word in ("worker", "web-worker-2", "worker-2"):
        assert selects(word, "web-worker-2", "worker", 2)
    for word in ("worker-1", "web", "web-worker", "2"):
        assert not selects(word, "web-worker-2", "worker", 2)
    assert selects("my-db", "my-db", "db", 1) and selects("db-1", "my-db", "db", 1)


def test_netfilter_names_carry_the_project_key_and_fit_iptables():
    names = ProjectNames("a-very-long-project-name-indeed")
    assert names.netfilter == f"stackrun-{names.key}"
    assert names.iptables_chain == f"STACKRUN-{names.key.upper()}"
    assert len(names.iptables_chain) <= 28  # XT_EXTENSION_MAXNAMELEN - 1
    assert ProjectNames("web").netfilter != ProjectNames("web2").netfilter

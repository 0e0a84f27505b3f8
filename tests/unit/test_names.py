from stackrun.plan.names import IFNAMSIZ, ProjectNames, instance_name


def test_interface_names_fit_ifnamsiz_and_carry_the_project_prefix():
    names = ProjectNames("a-very-long-project-name-indeed")
    for index in (0, 1, 255, 0xFFFFF):
        assert len(names.bridge(index)) <= IFNAMSIZ
        assert len(names.veth(index)) <= IFNAMSIZ
        assert names.veth(index).startswith(names.link_prefix[1])


def test_two_projects_never_share_interface_names():
    assert ProjectNames("web").veth(0) != ProjectNames("web2").veth(0)
    assert ProjectNames("web").bridge(0) != ProjectNames("web2").bridge(0)


def test_cgroup_path_and_instances():
    names = ProjectNames("web")
    assert names.cgroup("api") == "stackrun-web/api"
    assert instance_name("api", 1, 1) == "api"
    assert instance_name("worker", 2, 3) == "worker-2"


def test_netfilter_names_carry_the_project_key_and_fit_iptables():
    names = ProjectNames("a-very-long-project-name-indeed")
    assert names.netfilter == f"stackrun-{names.key}"
    assert names.iptables_chain == f"STACKRUN-{names.key.upper()}"
    assert len(names.iptables_chain) <= 28  # XT_EXTENSION_MAXNAMELEN - 1
    assert ProjectNames("web").netfilter != ProjectNames("web2").netfilter

"""What the fork server unpickles at each spawn and health check (spawn/forkserver.py)."""

import pickle
from dataclasses import replace

from stackrun.plan.model import HostEntry, NetworkAttachment, ServicePlan
from stackrun.runtime.spawn import JoinRequest, SpawnRequest
from stackrun.runtime.spawn.forkserver import for_the_server

PLAN = ServicePlan(name="api-1", service="api", replica=1, argv=("sh",), env=(("A", "1"),))


def hosts(count: int) -> tuple[HostEntry, ...]:
    return tuple(HostEntry(f"10.89.0.{i}", (f"s{i}-1", f"s{i}")) for i in range(count))


def test_a_request_does_not_grow_with_the_number_of_instances_on_the_network():
    sizes = {
        len(pickle.dumps(for_the_server(SpawnRequest(replace(PLAN, hosts=hosts(n))))))
        for n in (0, 3, 60)
    }
    assert len(sizes) == 1


def test_the_plan_sent_is_the_instance_s_but_for_its_hosts_entries_and_networks():
    network = NetworkAttachment("default", "srb0", "srv0", "eth0", "10.89.0.2/24", "10.89.0.1")
    plan = replace(PLAN, hosts=hosts(3), networks=(network,), hostname="web")
    for request in (SpawnRequest(plan), JoinRequest(plan, ("true",), 1)):
        sent = for_the_server(request)
        assert sent == replace(request, plan=replace(plan, hosts=(), networks=()))
    assert plan.hosts == hosts(3) and plan.networks == (network,)  # the original kept
    alone = SpawnRequest(PLAN)
    assert for_the_server(alone) is alone

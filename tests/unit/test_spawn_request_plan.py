"""What the supervisor pickles for the fork server at each spawn (supervisor/kernel.py)."""

import pickle
from dataclasses import replace

from stackrun.plan.model import HostEntry, ServicePlan
from stackrun.runtime.spawn import SpawnRequest
from stackrun.supervisor.kernel import for_spawn

PLAN = ServicePlan(name="api-1", service="api", replica=1, argv=("sh",), env=(("A", "1"),))


def hosts(count: int) -> tuple[HostEntry, ...]:
    return tuple(HostEntry(f"10.89.0.{i}", (f"s{i}-1", f"s{i}")) for i in range(count))


def test_a_request_does_not_grow_with_the_number_of_instances_on_the_network():
    sizes = {
        len(pickle.dumps(SpawnRequest(for_spawn(replace(PLAN, hosts=hosts(n))))))
        for n in (0, 3, 60)
    }
    assert len(sizes) == 1


def test_the_spawned_plan_is_the_instance_s_but_for_its_hosts_entries():
    plan = replace(PLAN, hosts=hosts(3), hostname="web")
    sent = for_spawn(plan)
    assert sent == replace(plan, hosts=()) and plan.hosts == hosts(3)  # the original kept
    assert for_spawn(PLAN) is PLAN

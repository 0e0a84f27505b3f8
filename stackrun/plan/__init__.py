"""The plan: a validated Stack turned into what the runtime runs (see model.py).

    from stackrun.plan import HostFacts, build
    plan = build(stack, HostFacts(data_dir=..., taken_subnets=...))
"""

from stackrun.plan.build import HostFacts, build

__all__ = ["HostFacts", "build"]

"""The plan: a validated Stack turned into what the runtime runs (see model.py).

    from stackrun.plan.build import HostFacts, build
    plan = build(stack, HostFacts(data_dir=..., taken_subnets=...))

The package itself imports nothing: readers of `plan.model` (ps, the supervisor) must not
pay for the builder and the spec models it pulls in.
"""

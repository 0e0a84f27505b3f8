"""User namespaces: root in a service is an unprivileged user on the host.

CONTRACT (issue 18; consumed by the supervisor, the spawn path, inspect and doctor):

    ledger.allocate(project) -> IdMap     at `up`: the project's range of 65,536 ids
    ledger.current(project) -> IdMap|None what it holds (inspect, top, exec)
    idmap.IdMap(uid, gid)                 inside 0..65535 -> host uid.., gid..
    idmap.canonical(ids) / idmap.bound(ids, owner, user) -> MountMap
                                          what an idmapped mount maps (stackrun's files;
                                          a user's directory, its owner the service's user)

The spawn path (runtime/spawn) creates each service in a new user namespace with the
project's map; the fork server writes the maps. docs/runtime.md, "User namespaces".
"""

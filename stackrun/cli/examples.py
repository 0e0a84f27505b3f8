"""`--help` examples of the verbs whose modules do not give their own (an epilog): added
to each command when the app is registered (`cli/app.py`), so that every verb shows how
it is used. Keys: the verb, or "GROUP VERB" for `image …` and `convert …`.
"""

from __future__ import annotations

from stackrun.cli.options import examples

EXAMPLES = {
    "config": """
        stackrun config                   the stack as stackrun reads it (YAML)
        stackrun config --services        the names of the services
        stackrun -f a.yaml -f b.yaml config --format json
    """,
    "validate": """
        stackrun validate                 every error with FILE:LINE:COL, or nothing
    """,
    "schema": """
        stackrun schema > stack.schema.json   for an editor's completion and checks
    """,
    "up": """
        stackrun up                       attached: the merged output; Ctrl-C stops
        stackrun up -d --wait             in the background, once healthy (or failed)
        stackrun up -d api                api and what it depends on
        stackrun up --watch               attached, following develop.watch
        stackrun up -d --scale worker=3   three workers this time
    """,
    "down": """
        stackrun down                     stop and remove everything but volumes and logs
        stackrun down -v -t 2             also the named volumes; 2 s to stop
    """,
    "stop": """
        stackrun stop                     every service, dependents first
        stackrun stop -t 30 db            db, with 30 s before SIGKILL
    """,
    "start": """
        stackrun start worker             the stopped worker instances again
    """,
    "restart": """
        stackrun restart api              api's instances (and followers: restart: true)
    """,
    "kill": """
        stackrun kill worker              SIGKILL (not restarted: a kill is a stop)
        stackrun kill -s HUP api          reload api's configuration
    """,
    "pause": """
        stackrun pause worker             freeze worker's processes where they are
    """,
    "unpause": """
        stackrun unpause                  let every paused instance run again
    """,
    "doctor": """
        stackrun doctor                   what this host offers and lacks, with fixes
    """,
    "logs": """
        stackrun logs -f api worker       history, then new lines until the project is down
        stackrun logs --tail 20 --since 10m
        stackrun logs --previous          the run before the current one
    """,
    "exec": """
        stackrun exec api sh              a shell inside api (a pty when on a terminal)
        stackrun exec -T -u 0 db cat /etc/hosts
        stackrun exec --index 2 worker ps aux
    """,
    "top": """
        stackrun top                      the processes of every instance
    """,
    "inspect": """
        stackrun inspect api              state, limits, cgroup, addresses, mounts
        stackrun inspect --format json worker-2
    """,
    "stats": """
        stackrun stats --no-stream        memory, CPU and pids of each instance, once
    """,
    "ls": """
        stackrun ls                       the projects this host runs
    """,
    "events": """
        stackrun events                   start, die, health_status… as they happen
        stackrun events --json api
    """,
    "port": """
        stackrun port api 8000            the host address and port api's 8000 is on
    """,
    "pull": """
        stackrun pull                     every service's image
        stackrun pull --quiet web
    """,
    "build": """
        stackrun build                    every service with build:
        stackrun build api --no-cache     this one, every step again
        stackrun build --build-arg VERSION=2 --pull
    """,
    "push": """
        stackrun push                     every service's image to its registry
        stackrun push localhost:5000/team/api:1
    """,
    "login": """
        stackrun login registry.example.com -u me --password-stdin < token
    """,
    "logout": """
        stackrun logout registry.example.com
    """,
    "images": """
        stackrun images                   the images in the store
        stackrun images -q redis
    """,
    "load": """
        stackrun load -i app.tar          from `docker save`, or an OCI layout
    """,
    "save": """
        stackrun save -o app.tar app:1
    """,
    "rmi": """
        stackrun rmi app:1
    """,
    "image load": """
        stackrun image load -i app.tar
    """,
    "image save": """
        stackrun image save -o app.tar app:1
    """,
    "image ls": """
        stackrun image ls
    """,
    "image rm": """
        stackrun image rm app:1
    """,
    "image prune": """
        stackrun image prune -a           every image no project runs
    """,
    "convert kubernetes": """
        stackrun convert kubernetes -o k8s.yaml
        stackrun convert kubernetes --namespace shop | kubectl apply -f -
    """,
}


def add_to(app) -> None:
    """Give each registered command without an epilog its examples."""
    _fill(app, "")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _fill(group.typer_instance, f"{group.name} ")


def _fill(app, prefix: str) -> None:
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        text = EXAMPLES.get(f"{prefix}{name}")
        if command.epilog is None and text is not None:
            command.epilog = examples(text)

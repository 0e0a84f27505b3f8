"""`extends` and `include`: services and projects built from others, with Compose's rules."""

from __future__ import annotations


def test_extends_in_the_same_file_merges_like_an_override(stack_dir):
    stack = stack_dir.load(
        """
        services:
          base:
            command: [serve, --port, "80"]
            environment: {TZ: utc, PORT: "80"}
            ports: ["80"]
            volumes: ["common:/data"]
            cap_add: [NET_ADMIN]
          web:
            extends: base
            environment: [PORT=8080]
            volumes: ["./cli:/data:ro"]
            cap_add: [SYS_TIME]
          cli:
            extends: {service: web}
            command: [cli]
            ports: !reset []
        volumes:
          common:
        """
    )
    web, cli = stack.services["web"], stack.services["cli"]
    assert web.command == ("serve", "--port", "80")
    assert web.environment == {"TZ": "utc", "PORT": "8080"}
    assert [(v.source, v.target, v.read_only) for v in web.volumes] == [("./cli", "/data", True)]
    assert web.cap_add == ("NET_ADMIN", "SYS_TIME")
    assert [p.target for p in web.ports] == [80]
    assert cli.command == ("cli",)
    assert cli.ports == ()
    assert cli.environment == web.environment


def test_extends_another_file_resolves_its_paths_from_there(stack_dir):
    stack_dir.write(
        "common/base.yaml",
        """
        services:
          app:
            extends: {service: root}
            volumes: ["./static:/static"]
            env_file: app.env
            user: ${APP_USER}
          root:
            command: [python3, app.py]
            working_dir: ./src
        """,
    )
    stack_dir.write("common/app.env", "FROM_FILE=1\n")
    stack = stack_dir.load(
        """
        services:
          web:
            extends: {file: common/base.yaml, service: app}
            environment: {EXTRA: "2"}
        """,
        environ={"APP_USER": "1000"},
    )
    web = stack.services["web"]
    common = stack_dir.root / "common"
    assert web.command == ("python3", "app.py")
    assert web.volumes[0].source == str(common / "static")
    assert web.working_dir == str(common / "src")
    assert web.environment == {"FROM_FILE": "1", "EXTRA": "2"}
    assert web.user == "1000"


def test_extends_problems_are_located_at_the_extends_key(stack_dir):
    stack_dir.write("other.yaml", "services:\n  a:\n    command: x\n")
    assert stack_dir.errors(
        """
        x-run: &run {command: x}
        services:
          a: {extends: {service: b}, <<: *run}
          b: {extends: {service: a}, <<: *run}
          c: {extends: {service: wbe}, <<: *run}
          web: {<<: *run}
          d: {extends: {file: other.yaml, service: nope}, <<: *run}
          e: {extends: {file: missing.yaml, service: a}, <<: *run}
          f: {extends: {service: web, image: x}, <<: *run}
          g: {extends: [web], <<: *run}
        """
    ) == [
        "stack.yaml:3:7: services.a.extends: extends cycle: a (stack.yaml) -> b (stack.yaml) -> a (stack.yaml)",
        "stack.yaml:5:7: services.c.extends: service 'wbe' not found; did you mean 'web'?",
        "stack.yaml:7:7: services.d.extends: service 'nope' not found in other.yaml",
        "stack.yaml:8:7: services.e.extends: file 'missing.yaml' not found (missing.yaml)",
        "stack.yaml:9:7: services.f.extends: unknown key 'image'; extends takes service: and file:",
        "stack.yaml:10:7: services.g.extends: expected a service name, or {service: NAME, file: PATH}",
    ]


def test_a_problem_inherited_from_the_base_points_into_the_base_file(stack_dir):
    stack_dir.write("base.yaml", "services:\n  app:\n    command: x\n    restart: sometimes\n")
    errors = stack_dir.errors("services:\n  web:\n    extends: {file: base.yaml, service: app}\n")
    assert errors == [
        "base.yaml:4:5: services.web.restart: 'sometimes' is not one of no, always, on-failure[:N], unless-stopped"
    ]


def test_include_short_and_long_syntax(stack_dir):
    stack_dir.write(
        "db/compose.yaml",
        """
        services:
          db:
            command: [store, --data, "${DATA_DIR}"]
            volumes: ["./data:/data", "dbdata:/var/lib"]
            env_file: db.env
            networks: [back]
        volumes:
          dbdata:
        networks:
          back:
        """,
    )
    stack_dir.write("db/.env", "DATA_DIR=/from-db-dotenv\nPORT=1\n")
    stack_dir.write("db/db.env", "ROLE=db\n")
    stack_dir.write("cache/compose.yaml", "services:\n  cache:\n    command: [cache, '${PORT}']\n")
    stack_dir.write("cache/dev.yaml", "services:\n  cache:\n    environment: {DEV: '1'}\n")
    stack_dir.write("cache.env", "PORT=6379\n")
    stack = stack_dir.load(
        """
        include:
          - db/compose.yaml
          - path: [cache/compose.yaml, cache/dev.yaml]
            project_directory: .
            env_file: cache.env
        services:
          api:
            command: [api]
            depends_on: [db, cache]
        """,
        environ={"PORT": "9"},
    )
    db, cache = stack.services["db"], stack.services["cache"]
    root = stack_dir.root
    assert db.command == ("store", "--data", "/from-db-dotenv")
    assert [v.source for v in db.volumes] == [str(root / "db" / "data"), "dbdata"]
    assert db.environment == {"ROLE": "db"}
    assert db.working_dir == str(root / "db")
    assert set(stack.volumes) == {"dbdata"} and set(stack.networks) == {"back"}
    assert cache.command == ("cache", "9")  # this project's variables win
    assert cache.environment == {"DEV": "1"}
    assert cache.working_dir == str(root)
    assert list(stack.services) == ["api", "db", "cache"]


def test_include_then_extend_an_included_service_and_override_it_locally(stack_dir):
    stack_dir.write(
        "lib/compose.yaml", "services:\n  worker:\n    command: [work]\n    init: true\n"
    )
    stack = stack_dir.load(
        """
        include: [lib/compose.yaml]
        services:
          worker:
            environment: {LOCAL: "1"}
          second:
            extends: worker
        """
    )
    worker, second = stack.services["worker"], stack.services["second"]
    assert (worker.command, worker.init, worker.environment) == (("work",), True, {"LOCAL": "1"})
    assert (second.command, second.init) == (("work",), True)


def test_include_problems(stack_dir):
    stack_dir.write("a.yaml", "include: [b.yaml]\nservices: {}\n")
    stack_dir.write("b.yaml", "include: [a.yaml]\nservices: {}\n")
    stack_dir.write("bad.yaml", "services:\n  x:\n    command: x\n    cpus: lots\n")
    errors = stack_dir.errors(
        """
        include:
          - a.yaml
          - nothing.yaml
          - {path: bad.yaml, envfile: x}
          - bad.yaml
          - {path: bad.yaml, env_file: missing.env}
        services:
          s: {command: x}
        """
    )
    assert errors == [
        "stack.yaml:3:5: include[1]: nothing.yaml: no such file to include",
        "stack.yaml:4:5: include[2]: unknown key 'envfile'; an include takes path, project_directory, env_file",
        "stack.yaml:6:5: include[4]: env file missing.env not found",
        "b.yaml:1:11: include[0]: include cycle: stack.yaml -> a.yaml -> b.yaml -> a.yaml",
        "bad.yaml:4:5: services.x.cpus: expected a number, got 'lots'",
    ]


def test_warnings_are_shown_next_to_errors(stack_dir):
    found = []
    stack_dir.errors(
        "version: '3'\nservices:\n  a:\n    restart: nope\n    command: x\n", warnings=found
    )
    assert [stack_dir.relative(w) for w in found] == [
        "stack.yaml:1:1: version: obsolete and ignored, as in Compose; remove it"
    ]

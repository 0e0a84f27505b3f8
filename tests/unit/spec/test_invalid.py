"""Invalid stack files: each error is reported at its exact FILE:LINE:COL with its message.

One case per mistake a user makes; the expected lines are what `stackrun config` prints.
"""

from __future__ import annotations

import pytest

CASES = [
    (
        "yaml_syntax",
        "services:\n  api:\n    command: [a, b\n",
        [
            "stack.yaml:4:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence"
        ],
    ),
    (
        "tab_indent",
        "services:\n\tapi: {}\n",
        [
            "stack.yaml:2:1: invalid YAML: found character that cannot start any token while scanning for the next token"
        ],
    ),
    (
        "duplicate_key",
        "services:\n  api:\n    command: x\n    command: y\n",
        ["stack.yaml:4:5: duplicate key 'command'"],
    ),
    (
        "not_a_mapping",
        "- a\n- b\n",
        ["stack.yaml:1:1: a stack file must be a mapping with a services: key"],
    ),
    (
        "no_services",
        "name: x\n",
        ["stack.yaml:1:1: services: required; add this key"],
    ),
    (
        "services_list",
        "services:\n  - api\n",
        ["stack.yaml:1:1: services: expected a mapping (key: value), got a list"],
    ),
    (
        "unknown_top_key",
        "servics:\n  api:\n    command: x\n",
        [
            "stack.yaml:1:1: services: required; add this key",
            "stack.yaml:1:1: servics: unknown key; did you mean 'services'?",
        ],
    ),
    (
        "unknown_service_key",
        "services:\n  api:\n    comand: x\n",
        ["stack.yaml:3:5: services.api.comand: unknown key; did you mean 'command'?"],
    ),
    (
        "unknown_nested_key",
        "services:\n  api:\n    command: x\n    healthcheck:\n      test: [CMD, 'true']\n      intervall: 5s\n",
        [
            "stack.yaml:6:7: services.api.healthcheck.intervall: unknown key; did you mean 'interval'?"
        ],
    ),
    (
        "restart_value",
        "services:\n  api:\n    command: x\n    restart: sometimes\n",
        [
            "stack.yaml:4:5: services.api.restart: 'sometimes' is not one of no, always, on-failure[:N], unless-stopped"
        ],
    ),
    (
        "restart_on_failure_count",
        "services:\n  api:\n    command: x\n    restart: on-failure:many\n",
        [
            "stack.yaml:4:5: services.api.restart: 'on-failure:many' is not one of no, always, on-failure[:N], unless-stopped"
        ],
    ),
    (
        "command_number_item",
        "services:\n  api:\n    command: [sleep, 10]\n",
        ["stack.yaml:3:22: services.api.command[1]: expected text, got 10; quote it"],
    ),
    (
        "command_unclosed_quote",
        "services:\n  api:\n    command: echo 'hi\n",
        ['stack.yaml:3:5: services.api.command: cannot split "echo \'hi": no closing quotation'],
    ),
    (
        "no_command",
        "services:\n  api:\n    environment: {A: b}\n",
        [
            "stack.yaml:2:3: services.api: nothing to run: add command: (the program and its arguments) or image:"
        ],
    ),
    (
        "image_reference",
        "services:\n  api:\n    image: Redis:7\n",
        [
            "stack.yaml:3:5: services.api.image: 'Redis:7' is not an image reference: repository name must be lowercase"
        ],
    ),
    (
        "image_tag",
        "services:\n  api:\n    image: 'redis:-7'\n",
        [
            "stack.yaml:3:5: services.api.image: 'redis:-7' is not an image reference: invalid tag '-7': up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ],
    ),
    (
        "image_digest",
        "services:\n  api:\n    image: redis@sha256:abc\n",
        [
            "stack.yaml:3:5: services.api.image: 'redis@sha256:abc' is not an image reference: invalid digest 'sha256:abc': expected sha256:<64 hex digits>"
        ],
    ),
    (
        "platform",
        "services:\n  api:\n    image: redis\n    platform: amd64\n",
        [
            "stack.yaml:4:5: services.api.platform: invalid platform 'amd64': expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
        ],
    ),
    (
        "pull_policy",
        "services:\n  api:\n    image: redis\n    pull_policy: sometimes\n",
        [
            "stack.yaml:4:5: services.api.pull_policy: 'sometimes' is not a pull policy; use one of always, never, missing, daily, weekly or every_DURATION"
        ],
    ),
    (
        "image_relative_working_dir",
        "services:\n  api:\n    image: redis\n    working_dir: app\n",
        ["stack.yaml:4:5: services.api.working_dir: must be absolute in an image"],
    ),
    (
        "build_secrets",
        "services:\n  api:\n    build:\n      context: .\n      secrets: [token]\n",
        [
            "stack.yaml:5:7: services.api.build.secrets: build secrets are not supported: pass values with args:, or COPY a file and remove it in the same RUN"
        ],
    ),
    (
        "build_two_dockerfiles",
        "services:\n  api:\n    build:\n      dockerfile: D\n      dockerfile_inline: FROM x\n",
        ["stack.yaml:3:5: services.api.build: dockerfile and dockerfile_inline cannot both be set"],
    ),
    (
        "build_network",
        "services:\n  api:\n    build: {context: ., network: bridge}\n",
        ["stack.yaml:3:25: services.api.build.network: 'bridge' is not one of default, host, none"],
    ),
    (
        "devices",
        "services:\n  api:\n    command: x\n    devices: [/dev/sda:/dev/xvda:rwx]\n",
        [
            "stack.yaml:4:15: services.api.devices[0].permissions: 'rwx' is not a device access: letters of rwm, each once"
        ],
    ),
    (
        "privileged",
        "services:\n  api:\n    command: x\n    privileged: true\n",
        [
            "stack.yaml:4:5: services.api.privileged: not supported; to keep every capability write cap_add: [ALL]"
        ],
    ),
    (
        "secret_undeclared",
        "services:\n  api:\n    command: x\n    secrets: [s]\nsecrets:\n  t: {file: ./t}\n",
        [
            "stack.yaml:4:15: services.api.secrets[0]: secret 's' is not declared; add it under the top-level secrets: key"
        ],
    ),
    (
        "secret_two_sources",
        "services:\n  api:\n    command: x\nsecrets:\n  t: {file: ./t, content: T}\n",
        ["stack.yaml:5:3: secrets.t: give exactly one of file:, environment: or content:"],
    ),
    (
        "deploy_restart_policy",
        "services:\n  api:\n    command: x\n    deploy:\n      restart_policy: {condition: sometimes}\n",
        [
            "stack.yaml:5:24: services.api.deploy.restart_policy.condition: 'sometimes' is not one of none, no, on-failure, any, always, unless-stopped"
        ],
    ),
    (
        "port_bad_number",
        "services:\n  api:\n    command: x\n    ports: ['80:http']\n",
        [
            "stack.yaml:4:13: services.api.ports[0]: port '80:http': 'http' is not a port number or range"
        ],
    ),
    (
        "port_out_of_range",
        "services:\n  api:\n    command: x\n    ports: ['70000:80']\n",
        ["stack.yaml:4:13: services.api.ports[0].published: must be at most 65535, got 70000"],
    ),
    (
        "port_protocol",
        "services:\n  api:\n    command: x\n    ports: ['80/sctp']\n",
        ["stack.yaml:4:13: services.api.ports[0].protocol: 'sctp' is not one of tcp, udp"],
    ),
    (
        "port_range_mismatch",
        "services:\n  api:\n    command: x\n    ports: ['8000-8002:80-81']\n",
        [
            "stack.yaml:4:13: services.api.ports[0]: port '8000-8002:80-81': 3 published ports for 2 target ports; give ranges of the same length, or one target port"
        ],
    ),
    (
        "port_bad_ip",
        "services:\n  api:\n    command: x\n    ports: ['1.2.3:80:80']\n",
        [
            "stack.yaml:4:13: services.api.ports[0]: port '1.2.3:80:80': '1.2.3' is not an IP address"
        ],
    ),
    (
        "port_long_missing_target",
        "services:\n  api:\n    command: x\n    ports:\n      - published: 80\n",
        ["stack.yaml:5:9: services.api.ports[0].target: required; add this key"],
    ),
    (
        "duplicate_published",
        "services:\n  a:\n    command: x\n    ports: ['8080:80']\n  b:\n    command: x\n    ports: ['8080:81']\n",
        ["stack.yaml:7:13: services.b.ports[0]: port 8080/tcp is already published by a"],
    ),
    (
        "published_with_replicas",
        "services:\n  a:\n    command: x\n    scale: 2\n    ports: ['8080:80']\n",
        [
            "stack.yaml:5:13: services.a.ports[0]: port 8080/tcp is published by 2 replicas; only one process can listen on it"
        ],
    ),
    (
        "volume_relative_target",
        "services:\n  api:\n    command: x\n    volumes: ['./data:data']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0].target: 'data' is not an absolute path; start it with '/'"
        ],
    ),
    (
        "volume_dotdot_target",
        "services:\n  api:\n    command: x\n    volumes: ['./data:/srv/../etc']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0].target: '/srv/../etc' contains '..'; write the path without it"
        ],
    ),
    (
        "volume_over_proc",
        "services:\n  api:\n    command: x\n    volumes: ['./p:/proc']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0].target: cannot mount over /proc: stackrun provides /proc itself"
        ],
    ),
    (
        "volume_over_root",
        "services:\n  api:\n    command: x\n    volumes: ['./r:/']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0].target: cannot mount over '/'; use x-stackrun.rootfs for a root filesystem"
        ],
    ),
    (
        "volume_mode",
        "services:\n  api:\n    command: x\n    volumes: ['./a:/a:rx']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0]: volume './a:/a:rx': unknown mode 'rx'; use ro or rw"
        ],
    ),
    (
        "volume_undeclared",
        "services:\n  api:\n    command: x\n    volumes: ['data:/data']\n",
        [
            "stack.yaml:4:15: services.api.volumes[0]: volume 'data' is not declared; add it under the top-level volumes: key"
        ],
    ),
    (
        "volume_type",
        "services:\n  api:\n    command: x\n    volumes:\n      - {type: nfs, source: a, target: /a}\n",
        ["stack.yaml:5:10: services.api.volumes[0].type: 'nfs' is not one of bind, volume, tmpfs"],
    ),
    (
        "bind_without_source",
        "services:\n  api:\n    command: x\n    volumes:\n      - {type: bind, target: /a}\n",
        [
            "stack.yaml:5:9: services.api.volumes[0]: a bind mount needs a source: the host path to mount"
        ],
    ),
    (
        "two_mounts_same_target",
        "services:\n  api:\n    command: x\n    volumes: ['./a:/a', './b:/a']\n",
        ["stack.yaml:4:25: services.api.volumes[1]: two mounts on /a (see volumes[0])"],
    ),
    (
        "tmpfs_option",
        "services:\n  api:\n    command: x\n    tmpfs: /run:noexec\n",
        [
            "stack.yaml:4:5: services.api.tmpfs[0]: tmpfs '/run:noexec': unsupported option 'noexec'; use size, mode, uid, gid, ro"
        ],
    ),
    (
        "depends_unknown",
        "services:\n  api:\n    command: x\n    depends_on: [stor]\n  store:\n    command: x\n",
        [
            "stack.yaml:4:18: services.api.depends_on.stor: unknown service 'stor'; did you mean 'store'?"
        ],
    ),
    (
        "depends_cycle",
        "services:\n  a:\n    command: x\n    depends_on: [b]\n  b:\n    command: x\n    depends_on: [c]\n  c:\n    command: x\n    depends_on: [a]\n",
        ["stack.yaml:4:18: services.a.depends_on.b: dependency cycle: a -> b -> c -> a"],
    ),
    (
        "depends_condition",
        "services:\n  a:\n    command: x\n    depends_on:\n      b: {condition: service_ready}\n  b:\n    command: x\n",
        [
            "stack.yaml:5:11: services.a.depends_on.b.condition: 'service_ready' is not one of service_started, service_healthy, service_completed_successfully"
        ],
    ),
    (
        "healthy_without_healthcheck",
        "services:\n  a:\n    command: x\n    depends_on:\n      b: {condition: service_healthy}\n  b:\n    command: x\n",
        [
            "stack.yaml:5:7: services.a.depends_on.b: 'b' has no healthcheck; add one to b or use condition: service_started"
        ],
    ),
    (
        "healthcheck_test",
        "services:\n  a:\n    command: x\n    healthcheck:\n      test: [curl, localhost]\n",
        [
            'stack.yaml:5:7: services.a.healthcheck.test: test must start with "CMD", "CMD-SHELL" or "NONE", e.g. ["CMD", "curl", "-f", "http://localhost"], or be a shell command string'
        ],
    ),
    (
        "duration",
        "services:\n  a:\n    command: x\n    stop_grace_period: 10 seconds\n",
        [
            "stack.yaml:4:5: services.a.stop_grace_period: '10 seconds' is not a duration; write e.g. 10s, 1m30s, 500ms"
        ],
    ),
    (
        "size",
        "services:\n  a:\n    command: x\n    mem_limit: 1 gigabyte\n",
        [
            "stack.yaml:4:5: services.a.mem_limit: '1 gigabyte' is not a size; write e.g. 512m, 1g or a number of bytes"
        ],
    ),
    (
        "signal",
        "services:\n  a:\n    command: x\n    stop_signal: SIGFOO\n",
        [
            "stack.yaml:4:5: services.a.stop_signal: 'SIGFOO' is not a signal; write e.g. SIGTERM, SIGINT, SIGQUIT"
        ],
    ),
    (
        "cpus_negative",
        "services:\n  a:\n    command: x\n    cpus: -1\n",
        ["stack.yaml:4:5: services.a.cpus: must be greater than 0.0, got -1"],
    ),
    (
        "cap_unknown",
        "services:\n  a:\n    command: x\n    cap_add: [SYS_ADMN]\n",
        [
            "stack.yaml:4:15: services.a.cap_add[0]: 'SYS_ADMN' is not a Linux capability; did you mean SYS_ADMIN?"
        ],
    ),
    (
        "security_opt",
        "services:\n  a:\n    command: x\n    security_opt: ['seccomp=profile.json']\n",
        [
            "stack.yaml:4:20: services.a.security_opt[0]: 'seccomp=profile.json' is not supported; only no-new-privileges[:true|false] and seccomp=unconfined are"
        ],
    ),
    (
        "ulimit_name",
        "services:\n  a:\n    command: x\n    ulimits: {files: 10}\n",
        [
            "stack.yaml:4:15: services.a.ulimits.files: 'files' is not a ulimit; use one of as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack"
        ],
    ),
    (
        "ulimit_soft_hard",
        "services:\n  a:\n    command: x\n    ulimits:\n      nofile: {soft: 20, hard: 10}\n",
        ["stack.yaml:5:7: services.a.ulimits.nofile: soft limit 20 is above the hard limit 10"],
    ),
    (
        "environment_bad_item",
        "services:\n  a:\n    command: x\n    environment: ['=x']\n",
        ["stack.yaml:4:19: services.a.environment[0]: expected KEY=VALUE"],
    ),
    (
        "environment_name_with_equals",
        "services:\n  a:\n    command: x\n    environment:\n      A=B: x\n",
        [
            "stack.yaml:5:7: services.a.environment.A=B: 'A=B' is not a variable name (empty or with '='); write NAME: VALUE"
        ],
    ),
    (
        "environment_nested",
        "services:\n  a:\n    command: x\n    environment:\n      A: {b: c}\n",
        ["stack.yaml:5:7: services.a.environment.A: expected a text value"],
    ),
    (
        "env_file_missing",
        "services:\n  a:\n    command: x\n    env_file: missing.env\n",
        [
            "stack.yaml:4:5: services.a.env_file[0]: env file missing.env not found (add required: false to allow that)"
        ],
    ),
    (
        "service_name_slash",
        "services:\n  a/b:\n    command: x\n",
        [
            "stack.yaml:2:3: services.a/b: 'a/b' is not a valid name: use letters, digits, '_', '.', '-', starting with a letter or digit (no '/' or '..')"
        ],
    ),
    (
        "service_name_dotdot",
        "services:\n  ..:\n    command: x\n",
        [
            "stack.yaml:2:3: services...: '..' is not a valid name: use letters, digits, '_', '.', '-', starting with a letter or digit (no '/' or '..')"
        ],
    ),
    (
        "network_undeclared",
        "services:\n  a:\n    command: x\n    networks: [back]\n",
        [
            "stack.yaml:4:16: services.a.networks.back: network 'back' is not declared; add it under the top-level networks: key"
        ],
    ),
    (
        "network_mode_and_networks",
        "services:\n  a:\n    command: x\n    network_mode: host\n    networks: [default]\n",
        ["stack.yaml:4:5: services.a.network_mode: cannot be used together with networks:"],
    ),
    (
        "network_mode_value",
        "services:\n  a:\n    command: x\n    network_mode: bridged\n",
        [
            "stack.yaml:4:5: services.a.network_mode: 'bridged' is not one of bridge, host, none, service:NAME"
        ],
    ),
    (
        "ipv4_outside_subnet",
        "services:\n  a:\n    command: x\n    networks:\n      back: {ipv4_address: 10.0.0.5}\nnetworks:\n  back:\n    ipam: {config: [{subnet: 10.1.0.0/24}]}\n",
        [
            "stack.yaml:5:14: services.a.networks.back.ipv4_address: 10.0.0.5 is not in back's subnet 10.1.0.0/24"
        ],
    ),
    (
        "bad_subnet",
        "services:\n  a:\n    command: x\nnetworks:\n  back:\n    ipam: {config: [{subnet: 10.1.0.0/33}]}\n",
        [
            "stack.yaml:6:22: networks.back.ipam.config[0].subnet: '10.1.0.0/33' is not an IPv4 subnet like 10.90.0.0/24 ('33' is not a valid netmask)"
        ],
    ),
    (
        "network_driver",
        "services:\n  a:\n    command: x\nnetworks:\n  back: {driver: overlay}\n",
        ["stack.yaml:5:10: networks.back.driver: 'overlay' is not one of bridge"],
    ),
    (
        "interpolation_required",
        "services:\n  a:\n    command: echo ${TOKEN:?set TOKEN first}\n",
        [
            "stack.yaml:3:5: services.a.command: required variable TOKEN is missing a value: set TOKEN first"
        ],
    ),
    (
        "interpolation_invalid",
        "services:\n  a:\n    command: echo costs $5\n",
        [
            "stack.yaml:3:5: services.a.command: invalid interpolation in 'echo costs $5': '$' must start $NAME or ${NAME}; write $$ for a literal dollar"
        ],
    ),
    (
        "interpolation_unclosed",
        "services:\n  a:\n    command: echo ${A\n",
        ["stack.yaml:3:5: services.a.command: invalid interpolation in 'echo ${A': missing '}'"],
    ),
    (
        "scale_vs_replicas",
        "services:\n  a:\n    command: x\n    scale: 2\n    deploy: {replicas: 3}\n",
        [
            "stack.yaml:4:5: services.a.scale: 2 differs from deploy.replicas (3); set only one of them"
        ],
    ),
    (
        "mem_limit_conflict",
        "services:\n  a:\n    command: x\n    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n",
        [
            "stack.yaml:4:5: services.a.mem_limit: 1073741824 differs from deploy.resources.limits.memory (2147483648); set only one of them"
        ],
    ),
    (
        "memswap_below",
        "services:\n  a:\n    command: x\n    mem_limit: 1g\n    memswap_limit: 512m\n",
        [
            "stack.yaml:5:5: services.a.memswap_limit: 536870912 is below mem_limit (1073741824); it counts memory plus swap"
        ],
    ),
    (
        "project_name_invalid",
        "name: My App\nservices:\n  a:\n    command: x\n",
        [
            "stack.yaml:1:1: name: project name 'My App' (from name:) must contain only lowercase letters, digits, '-' and '_', and start with a letter or digit"
        ],
    ),
    (
        "bool_expected",
        "services:\n  a:\n    command: x\n    read_only: maybe\n",
        ["stack.yaml:4:5: services.a.read_only: expected true or false, got 'maybe'"],
    ),
    (
        "int_expected",
        "services:\n  a:\n    command: x\n    scale: two\n",
        ["stack.yaml:4:5: services.a.scale: expected a whole number, got 'two'"],
    ),
    (
        "list_expected",
        "services:\n  a:\n    command: x\n    cap_add: NET_ADMIN\n",
        ["stack.yaml:4:5: services.a.cap_add: expected a list, got 'NET_ADMIN'"],
    ),
    (
        "hostname_invalid",
        "services:\n  a:\n    command: x\n    hostname: my_host!\n",
        [
            "stack.yaml:4:5: services.a.hostname: 'my_host!' is not a valid hostname (letters, digits, '-', '.')"
        ],
    ),
    (
        "unsupported_tag",
        "services:\n  a:\n    command: !!python/name:os.system x\n",
        ["stack.yaml:3:14: unsupported YAML tag tag:yaml.org,2002:python/name:os.system"],
    ),
    (
        "logging_driver",
        "services:\n  a:\n    command: x\n    logging: {driver: syslog}\n",
        [
            "stack.yaml:4:15: services.a.logging.driver: 'syslog' is not one of json-file, local, none"
        ],
    ),
    (
        "extra_hosts_ip",
        "services:\n  a:\n    command: x\n    extra_hosts: ['db:not-an-ip']\n",
        ["stack.yaml:4:19: services.a.extra_hosts.db: 'not-an-ip' is not an IP address"],
    ),
    (
        "working_dir_rootfs",
        "services:\n  a:\n    command: x\n    working_dir: app\n    x-stackrun: {rootfs: ./root}\n",
        ["stack.yaml:4:5: services.a.working_dir: must be absolute when x-stackrun.rootfs is set"],
    ),
    (
        "x_stackrun_unknown",
        "services:\n  a:\n    command: x\n    x-stackrun: {rootfs: ./r, restart_on_unhealty: true}\n",
        [
            "stack.yaml:4:31: services.a.x-stackrun.restart_on_unhealty: unknown key; did you mean 'restart_on_unhealthy'?"
        ],
    ),
    (
        "cgroup_parent_dotdot",
        "x-stackrun: {cgroup_parent: ../escape}\nservices:\n  a:\n    command: x\n",
        ["stack.yaml:1:14: x-stackrun.cgroup_parent: '../escape' must not contain '.' or '..'"],
    ),
    (
        "network_mode_cycle",
        "services:\n  a:\n    command: x\n    network_mode: 'service:b'\n  b:\n    command: x\n    depends_on: [a]\n",
        ["stack.yaml:4:5: services.a.network_mode: dependency cycle: a -> b -> a"],
    ),
    (
        "network_mode_unknown",
        "services:\n  a:\n    command: x\n    network_mode: 'service:nope'\n",
        ["stack.yaml:4:5: services.a.network_mode: unknown service 'nope'"],
    ),
    (
        "self_dependency",
        "services:\n  a:\n    command: x\n    depends_on: [a]\n",
        ["stack.yaml:4:18: services.a.depends_on.a: dependency cycle: a -> a"],
    ),
    (
        "long_port_published_range_backwards",
        "services:\n  a:\n    command: x\n    ports:\n      - {target: 80, published: '8001-8000'}\n",
        [
            "stack.yaml:5:22: services.a.ports[0].published: port '8001-8000': range 8001-8000 goes backwards"
        ],
    ),
    (
        "volume_source_path_for_volume",
        "services:\n  a:\n    command: x\n    volumes:\n      - {type: volume, source: ./data, target: /data}\n",
        [
            "stack.yaml:5:9: services.a.volumes[0]: volume source './data' is a path: use type: bind, or a volume name"
        ],
    ),
    (
        "memswap_without_mem_limit",
        "services:\n  a:\n    command: x\n    memswap_limit: 1g\n",
        [
            "stack.yaml:4:5: services.a.memswap_limit: needs mem_limit: memswap_limit is memory plus swap"
        ],
    ),
    (
        "fixed_ip_with_replicas",
        "services:\n  a:\n    command: x\n    scale: 2\n    networks:\n      back: {ipv4_address: 10.1.0.5}\nnetworks:\n  back:\n    ipam: {config: [{subnet: 10.1.0.0/24}]}\n",
        [
            "stack.yaml:6:14: services.a.networks.back.ipv4_address: a fixed address cannot be shared by several replicas"
        ],
    ),
    (
        "depends_on_list_item_mapping",
        "services:\n  a:\n    command: x\n    depends_on: [{b: 1}]\n",
        ["stack.yaml:4:18: services.a.depends_on[0]: expected a service name"],
    ),
    (
        "logging_max_file",
        "services:\n  a:\n    command: x\n    logging: {options: {max-file: many}}\n",
        ["stack.yaml:4:5: services.a.logging: max-file 'many' is not a number of files"],
    ),
    (
        "userns_mode_of_podman",
        "services:\n  a:\n    command: x\n    userns_mode: keep-id\n",
        [
            (
                "stack.yaml:4:5: services.a.userns_mode: 'keep-id' is podman's; stackrun has "
                "private (a range of ids of the project's own; a bound directory's owner is "
                "the service's user) and host"
            )
        ],
    ),
    (
        "userns_mode_unknown",
        "services:\n  a:\n    command: x\n    userns_mode: remap\n",
        ["stack.yaml:4:5: services.a.userns_mode: 'remap' is not one of private, host"],
    ),
    (
        "userns_default_unknown",
        "x-stackrun: {userns: yes}\nservices:\n  a:\n    command: x\n",
        ["stack.yaml:1:14: x-stackrun.userns: 'yes' is not one of private, host"],
    ),
    (
        "userns_private_with_the_hosts_pid",
        "services:\n  a:\n    command: x\n    pid: host\n    userns_mode: private\n",
        [
            (
                "stack.yaml:4:5: services.a.pid: host: shares the host's namespace, which the "
                "host's user namespace owns: write userns_mode: host (or remove it)"
            )
        ],
    ),
    (
        "userns_two_peers",
        (
            "services:\n  a: {command: x}\n  b: {command: x}\n  c:\n    command: x\n"
            "    network_mode: service:a\n    ipc: service:b\n"
        ),
        [
            (
                "stack.yaml:7:5: services.c.ipc: in a user namespace a service shares "
                "namespaces with one other service only (it joins that one's user namespace): "
                "share them all with a, or write userns_mode: host"
            )
        ],
    ),
    (
        "userns_mode_unlike_the_network_peer",
        (
            "services:\n  a: {command: x}\n  b:\n    command: x\n    network_mode: service:a\n"
            "    userns_mode: host\n"
        ),
        [
            (
                "stack.yaml:6:5: services.b.userns_mode: network_mode service:a shares a's "
                "user namespace, which is private: remove userns_mode here or make both the same"
            )
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_file_is_reported_where_it_is_wrong(stack_dir, text, expected):
    assert stack_dir.errors(text) == expected


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_errors_in_dotenv_and_env_files_point_into_them(stack_dir):
    stack_dir.write(".env", "GOOD=1\nbad line\n")
    stack_dir.write("app.env", "A=1\nB='open\n")
    errors = stack_dir.errors("services:\n  a:\n    command: x\n    env_file: app.env\n")
    assert errors == [
        ".env:2:1: 'bad line': a variable name cannot contain a space; write KEY=VALUE"
    ]
    stack_dir.write(".env", "GOOD=1\n")
    assert stack_dir.errors("services:\n  a:\n    command: x\n    env_file: app.env\n") == [
        "app.env:2:3: missing closing '"
    ]


def test_several_files_several_errors_in_file_order(stack_dir):
    stack_dir.write("zbase.yaml", "services:\n  a:\n    command: x\n    restart: nope\n")
    stack_dir.write("amore.yaml", "services:\n  a:\n    cpus: many\n")
    assert stack_dir.errors(None, files=("zbase.yaml", "amore.yaml")) == [
        "zbase.yaml:4:5: services.a.restart: 'nope' is not one of no, always, on-failure[:N], unless-stopped",
        "amore.yaml:3:5: services.a.cpus: expected a number, got 'many'",
    ]


def test_image_beside_a_rootfs_is_ignored_with_a_warning(stack_dir):
    text = (
        "services:\n  api:\n    image: nginx\n    pull_policy: never\n    command: x\n"
        "    x-stackrun: {rootfs: ./r}\n"
    )
    ignored = "ignored: x-stackrun.rootfs is the service's root; remove one of them"
    assert stack_dir.warnings(text) == [
        f"stack.yaml:3:5: services.api.image: {ignored}",
        f"stack.yaml:4:5: services.api.pull_policy: {ignored}",
    ]
    assert stack_dir.load(text).services["api"].image is None

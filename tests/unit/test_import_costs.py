"""What the timed paths import: every module costs `ps` (bench/ps.py; issue 17's target is
twice `python -c pass` plus 30 ms) and each of the processes of `up -d` (bench/startup.py).
The real CLI runs in a subprocess against a control server of the tests
(tests/helpers/control.py) and reports, as it exits, the modules it loaded; modules a
path has no use for must not be among them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackrun import dirs
from tests.helpers.control import served
from tests.helpers.python import REPO, run_program

# The CLI leaves through os._exit (cli/main.finish): the probe reports there.
PROBE = """
import json, os, sys
leave = os._exit

def report(code):
    sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()
    leave(code)

os._exit = report
sys.argv = ["stackrun", *sys.argv[1:]]
from stackrun.cli.entry import main
main()
"""

NOT_FOR_PS = {
    "hashlib": "OpenSSL's start-up: only names.project_key needs it",
    "tempfile": "and the shutil, random it imports: files.stage_text makes its own name",
    "shutil": "argparse's help formatter measured the terminal with it",
    "argparse": "cli/fast.py reads the few options itself (argparse compiled a dozen regexes)",
    "locale": "argparse's messages, translated through gettext",
    "stackrun.plan.model": "the plan is `up`'s",
    "typer": "the fast path reads the command line (cli/fast.py)",
    "pydantic": "no stack file is loaded",
    "anyio": "the client's coroutines never suspend (control/blocking.py)",
    "pathlib": "and the urllib.parse, ipaddress it imports: the socket's address is a string",
    "inspect": "dataclasses asks it only for a class without a docstring (shortcuts 8)",
}


def loaded_by(argv: list[str], run_root: Path) -> tuple[list[str], str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        dirs.RUN_ROOT_ENV: str(run_root),
        dirs.DATA_ROOT_ENV: str(run_root / "data"),
    }
    done = run_program(PROBE, *argv, env=env)
    tail = done.stderr.rpartition("MODULES ")[2]
    return json.loads(tail), done.stdout


@pytest.mark.parametrize("output", ["table", "json"])
def test_ps_imports_nothing_it_does_not_use(tmp_path, monkeypatch, output):
    monkeypatch.setenv(dirs.RUN_ROOT_ENV, str(tmp_path))
    with served(dirs.control_socket("demo")):
        modules, stdout = loaded_by(["-p", "demo", "ps", "-a", "--format", output], tmp_path)
    assert "api" in stdout and "worker-1" in stdout  # the fake project's instances
    loaded = {name for name in NOT_FOR_PS if name in modules}
    assert not loaded, {name: NOT_FOR_PS[name] for name in loaded}


NOT_FOR_SPAWNING = {
    "platform": "os.uname() tells the machine (runtime/linux.py)",
    "subprocess": "only iptables' hosts and a hosts-file rebind run a program",
    "shutil": "only teardown and a volume's first fill remove trees",
    "tempfile": "files.stage_text makes its own name",
    "inspect": "dataclasses asks it only for a class without a docstring (shortcuts 8)",
    "hashlib": "OpenSSL's start-up: small digests are files.sha256_hex's, blobs import it",
    "socket": "its enums and selectors: the spawn path's sockets are _socket's own",
    "selectors": "a batch's replies are read through select.epoll",
    "pickle": "its Python half: requests and the plan go through _pickle, its C half",
}


@pytest.mark.parametrize(
    "module",
    [
        "stackrun.runtime.spawn.server",
        "stackrun.daemon.early",
        "stackrun.images.resolve, stackrun.images.store",  # `up -d` finds its images
    ],
)
def test_the_fork_server_and_the_early_start_import_no_helper_they_do_not_use(module):
    """The fork server's modules and the pre-forked supervisor's, before anyio, and what
    the CLI of `up -d` loads to find its images in the store (with the shortcuts
    cli/main.py installs first)."""
    loaded = {name for name in NOT_FOR_SPAWNING if name in modules_with_shortcuts(module)}
    assert not loaded, {name: NOT_FOR_SPAWNING[name] for name in loaded}


def test_the_early_start_loads_no_signal_enums():
    """The pre-forked supervisor's chain to its first spawn (daemon/early.py): the fork
    server loads signal.py after it is forked, on a core of its own."""
    assert "signal" not in modules_with_shortcuts("stackrun.daemon.early")


def modules_with_shortcuts(module: str) -> list[str]:
    """What a process loads to import `module`, with the shortcuts cli/main.py installs."""
    probe = (
        "import json, sys; from stackrun import shortcuts; shortcuts.compiled_dataclass_methods()"
        f"; import {module}; print(json.dumps(sorted(sys.modules)))"
    )
    done = run_program(probe, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)})
    return json.loads(done.stdout)


NOT_FOR_A_CACHED_PLAN = {
    "hashlib": "OpenSSL's start-up: files.sha256_hex digests the stack file and the keys",
    "pydantic": "an unchanged stack file is not loaded again (cli/plan_cache.py)",
    "yaml": "likewise",
    "pickle": "its Python half: the cached plan is read through _pickle, its C half",
}


def modules_of_a_cached_plan(tmp_path, then: str = "") -> list[str]:
    """The modules loaded by `up`'s plan (then `then`) on its second run: a cache hit."""
    program = (
        "import json, os, sys; from stackrun.cli import main, host_check, starting"
        "; from stackrun.cli.project import ProjectOptions"
        f"; starting._plan(ProjectOptions(), starting.ImageOptions()){then}"
        "; print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        dirs.RUN_ROOT_ENV: str(tmp_path / "run"),
        dirs.DATA_ROOT_ENV: str(tmp_path / "data"),
    }
    run_program(program, env=env, cwd=tmp_path)  # compiles and stores the plan
    return json.loads(run_program(program, env=env, cwd=tmp_path).stdout)


def test_up_finds_a_cached_plan_and_checks_the_host_without_hashlib(tmp_path):
    """What `up` runs before it hands the plan over, on its second run (a cache hit)."""
    (tmp_path / "stack.yaml").write_text("services:\n  web:\n    command: [sleep, '1']\n")
    modules = modules_of_a_cached_plan(tmp_path, then="; host_check.memo_path()")
    loaded = {name for name in NOT_FOR_A_CACHED_PLAN if name in modules}
    assert not loaded, {name: NOT_FOR_A_CACHED_PLAN[name] for name in loaded}


NOT_FOR_A_CACHED_IMAGE = {
    "stackrun.images.store": "an unchanged image is known by its files' state (cli/plan_cache)",
    "stackrun.images.resolve": "likewise: the store is not asked again",
    "stackrun.images.model": "likewise: the plan holds no image record",
}


def test_up_finds_a_cached_image_plan_without_the_images_package(tmp_path, monkeypatch):
    from stackrun.images.store import Store
    from tests.helpers.imagestore import store_image
    from tests.helpers.oci import Image, busybox_layer

    monkeypatch.setenv(dirs.DATA_ROOT_ENV, str(tmp_path / "data"))
    with Store() as store:
        image = Image([busybox_layer()], cmd=("sh",), env=("PATH=/bin",))
        store_image(store, image, "localhost:5000/costs/app:1", tmp_path / "oci")
    (tmp_path / "stack.yaml").write_text(
        "services:\n  web:\n    image: localhost:5000/costs/app:1\n"
    )
    modules = modules_of_a_cached_plan(tmp_path)
    loaded = {name for name in NOT_FOR_A_CACHED_IMAGE if name in modules}
    assert not loaded, {name: NOT_FOR_A_CACHED_IMAGE[name] for name in loaded}

"""The compiled plan of `up` (cli/plan_cache.py) is reused only while every input is what
it was: these tests change each kind of input and check the next plan sees the change."""

from __future__ import annotations

import os
import pickle

import pytest

from stackrun.cli import plan_cache, project
from stackrun.cli import starting as up_cli
from stackrun.cli.project import ProjectOptions
from stackrun.plan import build as build_module
from stackrun.runtime.network import host

STACK = """\
name: cached
services:
  web:
    command: [sleep, "${NAP:-10}"]
    network_mode: none
"""
NO_IMAGES = up_cli.ImageOptions()


@pytest.fixture
def loads(monkeypatch, tmp_path):
    """A project directory; the count of stack files actually loaded (cache misses)."""
    monkeypatch.setenv("STACKRUN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NAP", raising=False)
    monkeypatch.delenv("STACKRUN_NO_SHORTCUTS", raising=False)
    work = tmp_path / "project"
    work.mkdir()
    (work / "stack.yaml").write_text(STACK)
    monkeypatch.chdir(work)
    # The host's links as they are now: other tests on this host add and remove bridges,
    # which rightly makes a new plan (test_changed_host_facts_make_a_new_plan).
    seen = host.snapshot()
    monkeypatch.setattr(host, "snapshot", lambda: seen)
    count = {"loads": 0, "dir": work}
    original = project.stack_and_warnings

    def counting(opts):
        count["loads"] += 1
        return original(opts)

    monkeypatch.setattr(project, "stack_and_warnings", counting)
    return count


def plan(opts: ProjectOptions | None = None):
    return up_cli._plan(opts or ProjectOptions(), NO_IMAGES)


def argv(p) -> tuple[str, ...]:
    return p.services[0].argv


def test_an_unchanged_file_is_not_loaded_again(loads):
    first = plan()
    second = plan()
    assert loads["loads"] == 1
    assert second == first


def test_a_changed_file_is_loaded_even_with_the_same_size_and_mtime(loads):
    assert argv(plan()) == ("sleep", "10")
    stack = loads["dir"] / "stack.yaml"
    before = os.stat(stack)
    stack.write_text(STACK.replace("10}", "20}"))  # same size
    os.utime(stack, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert argv(plan()) == ("sleep", "20")
    assert loads["loads"] == 2


def test_a_variable_the_file_reads_counts_and_others_do_not(loads, monkeypatch):
    plan()
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    plan()
    assert loads["loads"] == 1
    monkeypatch.setenv("NAP", "30")
    assert argv(plan()) == ("sleep", "30")
    monkeypatch.delenv("NAP")
    assert argv(plan()) == ("sleep", "10")
    assert loads["loads"] == 3


def test_a_new_dotenv_or_override_file_is_seen(loads):
    plan()
    (loads["dir"] / ".env").write_text("NAP=40\n")
    assert argv(plan()) == ("sleep", "40")
    override = "services:\n  web:\n    command: [sleep, '50']\n"
    (loads["dir"] / "stack.override.yaml").write_text(override)
    assert argv(plan()) == ("sleep", "50")
    (loads["dir"] / "stack.override.yaml").unlink()
    assert argv(plan()) == ("sleep", "40")
    assert loads["loads"] == 4


def test_an_env_file_is_read_again_when_it_changed(loads):
    (loads["dir"] / "web.env").write_text("MODE=a\n")
    stack = loads["dir"] / "stack.yaml"
    stack.write_text(STACK + "    env_file: web.env\n")
    assert ("MODE", "a") in plan().services[0].env
    (loads["dir"] / "web.env").write_text("MODE=b\n")
    assert ("MODE", "b") in plan().services[0].env
    assert loads["loads"] == 2


def test_other_options_are_other_entries(loads):
    plan()
    renamed = plan(ProjectOptions(project_name="other"))
    assert renamed.project == "other"
    assert plan().project == "cached"
    assert loads["loads"] == 2


def test_warnings_are_printed_from_the_cache_too(loads, capsys):
    (loads["dir"] / "stack.yaml").write_text(STACK + "    x-unknown-extension: 1\nversion: '3'\n")
    plan()
    first = capsys.readouterr().err
    plan()
    assert loads["loads"] == 1
    assert first and capsys.readouterr().err == first


def test_changed_host_facts_make_a_new_plan(loads, monkeypatch):
    plan()
    facts = up_cli._facts
    monkeypatch.setattr(
        up_cli, "_facts", lambda *a, **k: {**facts(*a, **k), "taken_subnets": ("10.9.9.0/24",)}
    )
    plan()
    assert loads["loads"] == 2


def host_with(monkeypatch, *links: str) -> None:
    """The host as the fixture pinned it, plus a bridge per name in `links` (as a project's
    own bridge appears while it runs): another state of the host."""
    seen = host.snapshot()
    addresses = [[f"10.77.{i}.1/24", link] for i, link in enumerate(links)]
    state = {**seen, "addresses": [*seen["addresses"], *addresses]}
    monkeypatch.setattr(host, "snapshot", lambda: state)


def test_each_state_of_the_host_keeps_its_plan(loads, monkeypatch):
    """`up -d` while the project runs (its bridge up) and after `down`: one plan each."""
    pinned = host.snapshot
    plan()
    with monkeypatch.context() as running:
        host_with(running, "sr-own-bridge")
        plan()
        assert loads["loads"] == 2
        plan()
    plan()  # down again: the first plan
    with monkeypatch.context() as running:
        host_with(running, "sr-own-bridge")
        plan()
    assert loads["loads"] == 2
    assert host.snapshot is pinned


def test_only_the_plan_of_the_hosts_state_now_is_unpickled(loads, monkeypatch):
    """After `up -d` on the running project, the next `up -d` after `down` finds its plan
    without unpickling the running state's, which is stored first."""
    plan()
    with monkeypatch.context() as running:
        host_with(running, "sr-own-bridge")
        plan()
    unpickled = []
    real = plan_cache._pickle

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def loads(self, data):
            value = real.loads(data)
            unpickled.append(type(value).__name__)
            return value

    monkeypatch.setattr(plan_cache, "_pickle", Counting())
    assert argv(plan()) == ("sleep", "10")
    assert loads["loads"] == 2
    assert unpickled == ["Compiled"]


def test_only_the_last_states_of_the_host_are_kept(loads, monkeypatch):
    plan()
    for count in range(1, plan_cache.VARIANTS + 1):
        with monkeypatch.context() as other:
            host_with(other, *[f"other{n}" for n in range(count)])
            plan()
    assert loads["loads"] == plan_cache.VARIANTS + 1
    plan()  # the first state: no longer kept
    assert loads["loads"] == plan_cache.VARIANTS + 2


def test_a_changed_file_drops_the_plans_of_the_other_states(loads, monkeypatch):
    assert argv(plan()) == ("sleep", "10")
    with monkeypatch.context() as running:
        host_with(running, "sr-own-bridge")
        plan()
        (loads["dir"] / "stack.yaml").write_text(STACK.replace("10}", "20}"))
        assert argv(plan()) == ("sleep", "20")
    assert argv(plan()) == ("sleep", "20")  # not the first state's plan of the old file
    assert loads["loads"] == 4


def entry_file(loads):
    (entry,) = (loads["dir"].parent / "data" / plan_cache.CACHE_DIR).glob("*.pickle")
    return entry


def test_a_damaged_or_foreign_entry_is_a_miss(loads):
    plan()
    entry = entry_file(loads)
    entry.write_bytes(b"not a pickle")
    plan()
    assert loads["loads"] == 2
    os.chmod(entry, 0o666)  # others could have written it
    plan()
    assert loads["loads"] == 3


def test_a_directory_others_can_write_is_not_trusted(loads):
    plan()
    os.chmod(entry_file(loads).parent, 0o777)
    plan()
    assert loads["loads"] == 2
    assert pickle.loads(entry_file(loads).read_bytes())  # and it was not replaced there


def test_no_cache_without_the_shortcuts(loads, monkeypatch):
    monkeypatch.setenv("STACKRUN_NO_SHORTCUTS", "1")
    plan()
    plan()
    assert loads["loads"] == 2


def test_the_project_name_comes_from_an_unchanged_entry_only(loads, monkeypatch):
    from stackrun.spec import loader

    reads = []
    original = loader.load_project_name
    monkeypatch.setattr(loader, "load_project_name", lambda o: reads.append(1) or original(o))
    assert project.project_name(ProjectOptions()) == "cached"  # nothing cached yet: read
    plan()
    assert project.project_name(ProjectOptions()) == "cached"
    assert len(reads) == 1
    (loads["dir"] / "stack.yaml").write_text(STACK.replace("name: cached", "name: renamed"))
    assert project.project_name(ProjectOptions()) == "renamed"
    assert len(reads) == 2


def test_a_data_root_it_makes_is_roots_alone(loads):
    plan()
    root = loads["dir"].parent / "data"
    assert os.stat(root).st_mode & 0o777 == 0o700
    assert os.stat(root / plan_cache.CACHE_DIR).st_mode & 0o777 == 0o700


def test_an_included_or_extended_file_that_changed_is_read_again(loads):
    work = loads["dir"]
    (work / "base.yaml").write_text("services:\n  base:\n    command: [sleep, '1']\n")
    (work / "more.yaml").write_text(
        "services:\n  extra:\n    command: [sleep, '2']\n    network_mode: none\n"
    )
    (work / "stack.yaml").write_text(
        STACK + "    extends: {file: base.yaml, service: base}\ninclude: [more.yaml]\n"
    )
    first = plan()
    assert {s.service: s.argv for s in first.services}["extra"] == ("sleep", "2")
    (work / "more.yaml").write_text(
        "services:\n  extra:\n    command: [sleep, '3']\n    network_mode: none\n"
    )
    assert {s.service: s.argv for s in plan().services}["extra"] == ("sleep", "3")
    (work / "base.yaml").write_text(
        "services:\n  base:\n    command: [sleep, '1']\n    environment: {FROM_BASE: 'yes'}\n"
    )
    web = {s.service: s for s in plan().services}["web"]
    assert ("FROM_BASE", "yes") in web.env
    assert loads["loads"] == 3


def test_a_userns_mode_is_the_files_and_the_projects_ids_are_not_in_the_plan(loads):
    """A service's user namespace mode comes from the stack file alone (a changed file is
    a new plan); the project's range of ids is allocated at every start (Kernel.prepare),
    never kept in a compiled plan."""
    assert plan().services[0].userns == "private"
    stack = loads["dir"] / "stack.yaml"
    stack.write_text(STACK.replace("name: cached\n", "name: cached\nx-stackrun: {userns: host}\n"))
    hosted = plan()
    assert hosted.services[0].userns == "host"
    assert plan() == hosted and loads["loads"] == 2
    assert b"IdMap" not in pickle.dumps(hosted)


def test_a_changed_module_that_made_the_plan_makes_a_new_one(loads):
    """The code is part of the key: a module loaded when the plan was made that changed
    since (an upgrade, an edit in a checkout) is a miss."""
    plan()
    module = build_module.__file__
    before = os.stat(module)
    try:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        plan()
        assert loads["loads"] == 2
    finally:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    plan()
    plan()
    assert loads["loads"] == 3  # back as it was: made once more (the entry is the last one's)


# ---------------------------------------------------------------- image services

IMAGE = "localhost:5000/cached/app:1"


def image_stack(policy: str = "missing") -> str:
    return (
        "name: cached\nservices:\n  web:\n"
        f"    image: {IMAGE}\n    pull_policy: {policy}\n    network_mode: none\n"
    )


def put(tmp_path, command: str):
    """Store an image under IMAGE (replacing the tag), as a pull would; its id."""
    from stackrun.images.store import Store
    from tests.helpers.imagestore import store_image
    from tests.helpers.oci import Image, busybox_layer

    with Store() as store:
        image = Image([busybox_layer()], cmd=(command,), env=("PATH=/bin",))
        return store_image(store, image, IMAGE, tmp_path / f"oci-{command}").id


@pytest.fixture
def asked(monkeypatch):
    """How often the image store was asked for the services' records."""
    from stackrun.cli import up_images

    count = {"asked": 0}
    original = up_images.records_for

    def counting(*args, **kwargs):
        count["asked"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(up_images, "records_for", counting)
    return count


def image_id(opts: ProjectOptions | None = None, images=NO_IMAGES) -> str:
    return up_cli._plan(opts or ProjectOptions(), images).services[0].image.id


def test_an_unchanged_image_is_checked_by_its_files_not_asked_again(loads, asked, tmp_path):
    (loads["dir"] / "stack.yaml").write_text(image_stack())
    first = put(tmp_path, "sh")
    assert image_id() == first
    asked["asked"] = 0
    assert image_id() == image_id() == first
    assert loads["loads"] == 1
    assert asked["asked"] == 0


def test_a_retagged_image_makes_a_new_plan(loads, tmp_path):
    (loads["dir"] / "stack.yaml").write_text(image_stack())
    first = put(tmp_path, "sh")
    assert image_id() == first
    second = put(tmp_path, "true")
    assert second != first
    assert image_id() == second
    assert loads["loads"] == 2


def test_an_image_removed_from_the_store_is_not_served_from_the_cache(loads, tmp_path):
    from stackrun.errors import ImageError
    from stackrun.images.store import Store

    (loads["dir"] / "stack.yaml").write_text(image_stack("never"))
    put(tmp_path, "sh")
    image_id()
    with Store() as store:
        store.remove(IMAGE, in_use={})
    with pytest.raises(ImageError, match="not in the image store"):
        image_id()


@pytest.mark.parametrize("policy", ["daily", "always"])
def test_a_policy_that_asks_more_than_the_store_asks_at_each_lookup(
    loads, asked, tmp_path, monkeypatch, policy
):
    from stackrun.cli import up_images
    from stackrun.images.store import Store

    monkeypatch.setattr(up_images, "pull_images", lambda todo, quiet: None)  # no registry
    (loads["dir"] / "stack.yaml").write_text(image_stack(policy))
    put(tmp_path, "sh")
    with Store() as store:
        store.mark_pulled(IMAGE)  # today: `daily` needs no pull
    image_id()
    asked["asked"] = 0
    image_id()
    assert asked["asked"] == 1  # `always` then misses and pulls again, as before
    assert loads["loads"] == (1 if policy == "daily" else 2)


def test_pull_given_on_the_command_line_asks_the_store(loads, asked, tmp_path, monkeypatch):
    from stackrun.cli import up_images

    pulls = []
    monkeypatch.setattr(up_images, "pull_images", lambda todo, quiet: pulls.append(todo))
    (loads["dir"] / "stack.yaml").write_text(image_stack())
    first = put(tmp_path, "sh")
    image_id()  # kept with the state of the store's files
    assert image_id(images=up_cli.ImageOptions(pull="always")) == first
    assert len(pulls) == 1
    never = up_cli.ImageOptions(pull="never")
    image_id(images=never)
    asked["asked"] = 0
    assert image_id(images=never) == first
    assert asked["asked"] == 1


def test_an_image_changed_while_the_plan_was_made_is_not_kept(loads, tmp_path, monkeypatch):
    """The files' state is taken before the records are read again: a tag moved after the
    plan's records were read, before that state, leaves no entry."""
    (loads["dir"] / "stack.yaml").write_text(image_stack())
    first = put(tmp_path, "sh")
    states = plan_cache.file_states
    moved = {}

    def moving(paths):
        if not moved:
            moved["id"] = put(tmp_path, "true")
        return states(paths)

    monkeypatch.setattr(plan_cache, "file_states", moving)
    assert image_id() == first
    monkeypatch.setattr(plan_cache, "file_states", states)
    assert image_id() == moved["id"]
    assert loads["loads"] == 2

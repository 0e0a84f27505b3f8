"""runtime.network.hostsfile: rendering, and replacing the file (never empty or
half-written for a reader). Plain files, no root; the rebind inside a running
instance is tested in tests/integration/test_network_cli.py."""

from __future__ import annotations

import threading

from stackrun.plan.model import HostEntry, ServicePlan
from stackrun.runtime.network import hostsfile

SMALL = (HostEntry("10.89.0.2", ("api",)),)
LARGE = tuple(HostEntry(f"10.89.0.{i}", (f"worker-{i}", "worker")) for i in range(2, 60))


def entries_in(text: str) -> tuple[HostEntry, ...]:
    """What a resolver reads: comment and blank lines skipped."""
    lines = (line.split("#")[0].split() for line in text.splitlines())
    return tuple(HostEntry(f[0], tuple(f[1:])) for f in lines if f)


def test_render_lists_one_line_per_entry():
    text = hostsfile.render((HostEntry("127.0.0.1", ("localhost",)), *SMALL))
    assert text.startswith("#") and "127.0.0.1\tlocalhost\n10.89.0.2\tapi\n" in text


def test_a_rewrite_replaces_the_file_and_an_open_reader_keeps_the_old_text(tmp_path):
    path = tmp_path / "hosts"
    hostsfile.write(path, hostsfile.render(LARGE))
    with open(path) as old:
        hostsfile.write(path, hostsfile.render(SMALL))
        assert entries_in(old.read()) == LARGE  # never changed under a reader
    assert entries_in(path.read_text()) == SMALL
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"]  # no temporary left


def test_a_reader_never_sees_a_partial_file(tmp_path):
    path = tmp_path / "hosts"
    versions = [hostsfile.render(LARGE[:n]) for n in (1, 58, 5, 40, 2)]
    valid = {entries_in(v) for v in versions}
    hostsfile.write(path, versions[0])
    seen, done = set(), threading.Event()

    def reader():
        while not done.is_set():
            with open(path) as handle:  # as a resolver does: open, read it all
                seen.add(entries_in(handle.read()))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(400):
            hostsfile.write(path, versions[round_ % len(versions)])
    finally:
        done.set()
        thread.join()
    assert seen and seen <= valid


def test_refresh_rewrites_only_files_that_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path))
    api = ServicePlan("api", "api", 1, ("x",), (), hosts=SMALL)
    store = ServicePlan("store", "store", 1, ("x",), (), hosts=SMALL)
    for service in (api, store):
        hostsfile.write(hostsfile.path_for("p", service.name), hostsfile.text_for(service))
    moved = ServicePlan("api", "api", 1, ("x",), (), hosts=(HostEntry("10.89.0.9", ("api",)),))
    assert hostsfile.refresh("p", [moved, store], {}) == ["api"]
    assert hostsfile.refresh("p", [moved, store], {}) == []
    assert hostsfile.refresh("q", [moved], {}) == []  # not started yet: nothing to rewrite


def test_network_mode_host_keeps_the_hosts_own_file(tmp_path, monkeypatch):
    own = tmp_path / "etc-hosts"
    own.write_text("192.0.2.2 myhost")
    monkeypatch.setattr(hostsfile, "HOST_HOSTS", own)
    service = ServicePlan(
        "tool",
        "tool",
        1,
        ("x",),
        (),
        network_mode="host",
        hosts=(HostEntry("192.0.2.8", ("extra",)),),
    )
    text = hostsfile.text_for(service)
    # The host's lines first, as they are (a newline added), then the extra_hosts.
    assert entries_in(text) == (
        HostEntry("192.0.2.2", ("myhost",)),
        HostEntry("192.0.2.8", ("extra",)),
    )
    assert text.startswith("192.0.2.2 myhost\n")
    assert own.read_text() == "192.0.2.2 myhost"  # read, never written

    bridged = ServicePlan("api", "api", 1, ("x",), (), hosts=service.hosts)
    assert "myhost" not in hostsfile.text_for(bridged)  # only network_mode host has them

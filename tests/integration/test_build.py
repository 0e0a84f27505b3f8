"""Real builds FROM a busybox-based image pulled from a real registry: RUN as an instance,
COPY and ADD from the context and from other stages, ARGs, the layer cache (proved with
random stamps), and errors located in the Dockerfile that leave nothing behind."""

from __future__ import annotations

import io
import tarfile

import pytest

from stackrun import dirs
from stackrun.errors import BuildError
from stackrun.images.records import read_config
from stackrun.images.store import Store
from tests.helpers.building import Builds, lookup, push_base, read, stale_builds
from tests.helpers.registry import Registry

STAMP = "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture(scope="module")
def base(registry, tmp_path_factory):
    return push_base(registry, tmp_path_factory.mktemp("layout"))


@pytest.fixture
def builds(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("STACKRUN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # errors name the Dockerfile relative to it: context1/Dockerfile
    with Builds(tmp_path) as builds:
        yield builds
    assert stale_builds(tmp_path / "run") == []


def config(record) -> dict:
    with Store(dirs.image_root()) as store:
        return read_config(store.layout, record.id)


def test_run_copy_args_and_stages(builds, base):
    record = builds.build(
        {
            "Dockerfile": f"""\
ARG BASE={base}
FROM $BASE AS compile
ARG MESSAGE=default
WORKDIR /src
COPY main.txt ./
RUN echo "$MESSAGE: $(cat main.txt)" > result.txt

FROM $BASE
ARG FLAVOR
ENV FLAVOR=${{FLAVOR:-plain}} FROM_ARG=$FLAVOR
COPY --from=compile --chown=app:staff /src/result.txt /opt/
COPY --chmod=0750 tool.sh /usr/local/bin/tool
RUN /usr/local/bin/tool > /opt/tool.out
USER app
CMD ["cat", "/opt/result.txt"]
""",
            "main.txt": "from the context\n",
            "tool.sh": "#!/bin/sh\necho tool ran as $(id -u) with $FLAVOR\n",
        },
        args={"MESSAGE": "built", "FLAVOR": "spicy"},
        tags=("localhost/test/app:1",),
    )
    assert read(record, "/opt/result.txt") == b"built: from the context\n"
    assert read(record, "/opt/tool.out") == b"tool ran as 0 with spicy\n"
    info = lookup(record, "/opt/result.txt").stat()
    assert (info.st_uid, info.st_gid) == (1000, 50)
    assert lookup(record, "/usr/local/bin/tool").stat().st_mode & 0o7777 == 0o750
    assert lookup(record, "/src") is None  # the first stage is not in the image
    made = config(record)
    assert made["config"]["Cmd"] == ["cat", "/opt/result.txt"]
    assert made["config"]["User"] == "app"
    assert "FLAVOR=spicy" in made["config"]["Env"] and "FROM_BASE=yes" in made["config"]["Env"]
    assert "MESSAGE=built" not in made["config"]["Env"]  # an ARG is not in the image
    assert record.references == ("localhost/test/app:1",)
    assert len(made["rootfs"]["diff_ids"]) == len(record.layers) == 2 + 3


def test_the_second_build_reruns_nothing(builds, base):
    files = {
        "Dockerfile": f"FROM {base}\nCOPY app.txt /app/\nRUN {STAMP} > /stamp\nLABEL x=y\n",
        "app.txt": "app\n",
    }
    context = builds.context(files)
    first = builds.build(context)
    stamp = read(first, "/stamp")
    assert len(stamp) == 32
    builds.clear_output()
    second = builds.build(context)
    output = builds.clear_output()
    assert read(second, "/stamp") == stamp
    assert second.id == first.id  # the same layers and config: the same image
    assert "CACHED COPY app.txt /app/" in output and "CACHED RUN" in output
    assert "DONE" not in output  # no step ran


def test_changing_a_copied_file_reruns_only_from_that_copy(builds, base):
    files = {
        "Dockerfile": f"FROM {base}\nCOPY one.txt /\nRUN {STAMP} > /stamp1\n"
        f"COPY two.txt /\nRUN {STAMP} > /stamp2\n",
        "one.txt": "one\n",
        "two.txt": "two\n",
    }
    context = builds.context(files)
    first = builds.build(context)
    (context / "two.txt").write_text("two, changed\n")
    builds.clear_output()
    second = builds.build(context)
    output = builds.clear_output()
    assert read(second, "/stamp1") == read(first, "/stamp1")
    assert read(second, "/stamp2") != read(first, "/stamp2")
    assert read(second, "/two.txt") == b"two, changed\n"
    assert "CACHED COPY one.txt /" in output and "CACHED RUN" in output.split("two.txt")[0]
    assert "CACHED COPY two.txt" not in output


def test_copy_from_a_stage_follows_that_stage(builds, base):
    files = {
        "Dockerfile": f"FROM {base} AS make\nCOPY v.txt /v\nFROM {base}\nCOPY --from=make /v /v\n",
        "v.txt": "1\n",
    }
    context = builds.context(files)
    assert read(builds.build(context), "/v") == b"1\n"
    (context / "v.txt").write_text("2\n")
    assert read(builds.build(context), "/v") == b"2\n"


def test_scratch_target_labels_and_inline(builds, base):
    dockerfile = (
        f"FROM {base} AS tools\nRUN echo from-tools > /made\n"
        "FROM scratch AS final\nCOPY --from=tools /made /made\nCOPY x.txt /\n"
        "FROM final AS extra\nLABEL extra=yes\n"
    )
    context = builds.context({"x.txt": "x\n"})
    record = builds.build(context, inline=dockerfile, target="final", labels={"team": "core"})
    assert len(record.layers) == 2  # scratch: only its two COPY layers
    assert read(record, "/made") == b"from-tools\n" and read(record, "/x.txt") == b"x\n"
    made = config(record)
    assert made["config"]["Labels"] == {"team": "core"}  # the target stage: no `extra`
    assert made["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]


def test_pull_takes_the_base_again(builds, registry, tmp_path):
    from tests.helpers import oci

    name = f"{registry.host}/test/moving:1"
    layout = tmp_path / "moving"

    def publish(text: str) -> None:
        extra = oci.Layer([oci.File("etc/release", text.encode())])
        oci.write_layout(layout, {"v1": oci.Image([oci.busybox_layer(), extra])})
        oci.push(layout, "v1", name)

    publish("one\n")
    context = builds.context({"Dockerfile": f"FROM {name}\nRUN cat /etc/release > /seen\n"})
    assert read(builds.build(context), "/seen") == b"one\n"
    publish("two\n")
    assert read(builds.build(context), "/seen") == b"one\n"  # the stored base, cached
    assert read(builds.build(context, pull=True), "/seen") == b"two\n"


def test_no_cache_and_build_args_change_the_key(builds, base):
    context = builds.context({"Dockerfile": f"FROM {base}\nARG V=1\nRUN {STAMP} > /stamp\n"})
    first = read(builds.build(context), "/stamp")
    assert read(builds.build(context), "/stamp") == first
    assert read(builds.build(context, no_cache=True), "/stamp") != first
    assert read(builds.build(context, args={"V": "2"}), "/stamp") != first


def test_dockerignore_and_globs(builds, base):
    record = builds.build(
        {
            "Dockerfile": f"FROM {base}\nCOPY . /ctx/\nCOPY src/*.py /py/\nCOPY missing* /none/\n",
            ".dockerignore": "*.log\nsecret\nsrc/skip.py\n",
            "app.log": "log",
            "secret": "x",
            "src/a.py": "a",
            "src/skip.py": "skip",
            "src/data.txt": "d",
        }
    )
    assert lookup(record, "/ctx/src/a.py") is not None
    assert lookup(record, "/ctx/app.log") is None and lookup(record, "/ctx/secret") is None
    assert lookup(record, "/ctx/.dockerignore") is not None  # as in Docker: only what it lists
    assert read(record, "/py/a.py") == b"a" and lookup(record, "/py/skip.py") is None
    assert lookup(record, "/py/data.txt") is None


def test_heredocs_add_archive_and_workdir(builds, base, tmp_path):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = b"from the archive\n"
        member = tarfile.TarInfo("pkg/readme")
        member.size, member.uid, member.mode = len(data), 1000, 0o640
        tar.addfile(member, io.BytesIO(data))
    record = builds.build(
        {
            "Dockerfile": f"""\
FROM {base}
WORKDIR /home/app
ENV WHO=world
COPY <<EOF greeting.txt
hello $WHO
EOF
RUN <<EOF
set -e
echo "script ran in $(pwd)" > /ran
EOF
RUN <<EOF
#!/bin/sh
echo "shebang: $0" > /shebang
EOF
ADD pkg.tar.gz /opt/
""",
            "pkg.tar.gz": archive.getvalue(),
        }
    )
    assert read(record, "/home/app/greeting.txt") == b"hello world\n"
    assert read(record, "/ran") == b"script ran in /home/app\n"
    assert read(record, "/shebang") == b"shebang: /dev/pipes/EOF\n"
    assert read(record, "/opt/pkg/readme") == b"from the archive\n"
    assert lookup(record, "/opt/pkg/readme").stat().st_uid == 1000
    history = config(record)["history"]
    workdir = next(h for h in history if h["created_by"] == "WORKDIR /home/app")
    assert workdir.get("empty_layer") is True  # it existed: no layer


def test_run_is_an_isolated_instance(builds, base):
    record = builds.build(
        {
            "Dockerfile": f"""\
FROM {base}
RUN echo "pid=$$ host=$(hostname) net=$(ls /sys/class/net | tr '\\n' ' ')" > /host-net
RUN --network=none ls /sys/class/net | tr '\\n' ' ' > /none-net
RUN rm /bin/false && mkdir -p /var/empty && echo kept > /tmp/left
RUN cat /tmp/left > /tmp-seen
"""
        }
    )
    host_net = read(record, "/host-net").decode()
    assert host_net.startswith("pid=1 ")  # PID 1 of its own pid namespace
    assert "lo" in host_net and host_net.split("net=")[1].strip() != "lo"  # the host's network
    assert read(record, "/none-net").decode().split() == ["lo"]
    assert lookup(record, "/bin/false") is None  # deleted: a whiteout in the layer
    assert lookup(record, "/bin/true") is not None
    assert read(record, "/tmp-seen") == b"kept\n"  # /tmp is the image's, as in Docker
    # nothing of the mount points stackrun needed for the RUN is in the image
    for path in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys"):
        assert lookup(record, path) is None, path


def test_add_downloads_a_url_and_says_when_it_cannot(builds, base, tmp_path):
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.txt").write_text("downloaded\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tool.txt"
    try:
        context = builds.context(
            {"Dockerfile": f"FROM {base}\nADD {url} /opt/\nRUN {STAMP} > /s\n"}
        )
        record = builds.build(context)
        assert read(record, "/opt/tool.txt") == b"downloaded\n"
        assert lookup(record, "/opt/tool.txt").stat().st_mode & 0o777 == 0o600  # as Docker
        assert read(builds.build(context), "/s") == read(record, "/s")  # same content: cached
        (served / "tool.txt").write_text("changed on the server\n")
        again = builds.build(context)
        assert read(again, "/opt/tool.txt") == b"changed on the server\n"
        assert read(again, "/s") != read(record, "/s")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(BuildError) as caught:
        builds.build({"Dockerfile": f"FROM {base}\nADD http://127.0.0.1:1/x.tgz /\n"})
    assert str(caught.value).startswith(
        "context2/Dockerfile:2:1: ADD http://127.0.0.1:1/x.tgz: cannot download it ("
    )
    assert "is the network reachable?" in str(caught.value)


def test_run_mounts(builds, base):
    files = {
        "Dockerfile": f"""\
FROM {base}
WORKDIR /w
RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /from-bind
RUN --mount=type=bind,target=ctx,rw echo x > ctx/new && ls ctx > /ctx-list
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && grep -c ' /scratch ' /proc/mounts > /tmpfs
""",
        "src/a.txt": "bound\n",
        ".dockerignore": "secret\n",
        "secret": "s",
    }
    context = builds.context(files)
    record = builds.build(context)
    assert read(record, "/count").strip() == b"1"
    assert read(record, "/from-bind") == b"bound\n"
    assert read(record, "/ctx-list").split() == [b"Dockerfile", b"new", b"src"]  # no secret
    assert read(record, "/tmpfs").strip() == b"1"
    for path in ("/cache/log", "/src/a.txt", "/w/ctx/new", "/scratch/x"):
        assert lookup(record, path) is None, path
    (context / "src" / "a.txt").write_text("changed\n")
    again = builds.build(context)
    assert read(again, "/count") == read(record, "/count")  # cached
    assert read(again, "/from-bind") == b"changed\n"  # what a bind shows is in the key
    assert read(builds.build(context, no_cache=True), "/count").strip() == b"2"  # kept


def test_a_failing_run_names_the_step_and_leaves_nothing(builds, base):
    with pytest.raises(BuildError) as caught:
        builds.build(
            {"Dockerfile": f"FROM {base}\nRUN echo fine\n\nRUN echo broken >&2 && exit 3\n"},
            service="api",
        )
    message = str(caught.value)
    assert message.startswith("api: context1/Dockerfile:4:1: process ")
    assert "exit code 3" in message and caught.value.step == "[api 3/3]"
    assert "[api 3/3] broken" in builds.output


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM {base}\nCOPY nothere.txt /\n", "Dockerfile:2:1: COPY failed: nothere.txt: not found"),
        ("FROM {base}\nCOPY --chown=nobody x /\n", "Dockerfile:2:1: unable to find user nobody"),
        ("FROM {base}\nCOPY ../outside /\n", "Dockerfile:2:1: COPY failed: ../outside: outside"),
        ("FROM {base}\nRUN --mount=type=secret,id=x true\n", "Dockerfile:2:1: RUN --mount=type=secret"),
        ("FROM localhost:1/nothing:1\n", "Dockerfile:1:1: "),
        ('FROM {base}\nENV A="${{B:?B must be set}}"\n', "Dockerfile:2:1: ENV: B: B must be set"),
    ],
)  # fmt: skip
def test_errors_are_located(builds, base, dockerfile, expected):
    with pytest.raises(BuildError) as caught:
        builds.build({"Dockerfile": dockerfile.format(base=base), "x": "x"})
    assert str(caught.value).startswith(f"context1/{expected}")


def test_another_platform_is_refused_before_anything_runs(builds, base):
    with pytest.raises(
        BuildError, match=r"builds for this host's platform .* only, not linux/s390x"
    ):
        builds.build({"Dockerfile": f"FROM {base}\nRUN true\n"}, platform="linux/s390x")
    assert builds.output == ""


def test_independent_stages_build_in_parallel(builds, base):
    """Each stage's RUN notes the system's uptime before and after a pause: the two
    intervals overlap only when the stages ran at the same time."""
    run = "RUN echo {} && cut -d' ' -f1 /proc/uptime > /t0 && sleep 1 && cut -d' ' -f1 /proc/uptime > /t1"
    record = builds.build(
        {
            "Dockerfile": f"FROM {base} AS left\n{run.format('left')}\n"
            f"FROM {base} AS right\n{run.format('right')}\n"
            f"FROM {base}\nCOPY --from=left /t0 /t1 /left/\nCOPY --from=right /t0 /t1 /right/\n"
        }
    )
    left = [float(read(record, f"/left/t{i}")) for i in (0, 1)]
    right = [float(read(record, f"/right/t{i}")) for i in (0, 1)]
    assert left[0] < right[1] and right[0] < left[1], (left, right)


def test_a_pushed_image_pulls_back_with_the_same_digest(builds, base, tmp_path):
    import anyio

    from stackrun.images.pull import pull
    from stackrun.images.push import push
    from stackrun.images.reference import parse_reference

    host = base.split("/")[0]
    name = f"{host}/test/pushed:1"
    record = builds.build(
        {"Dockerfile": f"FROM {base}\nRUN {STAMP} > /stamp\nCOPY a.txt /\n", "a.txt": "a\n"},
        tags=(name,),
    )
    reference = parse_reference(name)
    with Store(dirs.image_root()) as store:
        digest = anyio.run(push, reference, store)
        assert store.image(name).repo_digests == (f"{reference.name}@{digest}",)
        assert anyio.run(push, reference, store) == digest  # the same bytes again
    with Store(tmp_path / "elsewhere") as other:
        pulled = anyio.run(pull, reference, other)
        assert pulled.id == record.id
        assert pulled.repo_digests == (f"{reference.name}@{digest}",)
        assert [layer.diff_id for layer in pulled.layers] == [
            layer.diff_id for layer in record.layers
        ]
        assert read(pulled, "/stamp") == read(record, "/stamp")

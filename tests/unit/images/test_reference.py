"""References and platforms, normalised as Docker does."""

from __future__ import annotations

import pytest

from stackrun.images.model import Platform
from stackrun.images.reference import (
    ReferenceError,
    host_platform,
    is_image_id,
    parse_platform,
    parse_reference,
    platform_matches,
)  # fmt: skip

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("redis", "docker.io/library/redis:latest", "redis:latest"),
        ("redis:7", "docker.io/library/redis:7", "redis:7"),
        ("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2", "bitnami/redis:7.2"),
        ("docker.io/redis", "docker.io/library/redis:latest", "redis:latest"),
        ("index.docker.io/library/redis:7", "docker.io/library/redis:7", "redis:7"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1"),
        ("127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x"),
        ("ghcr.io/o/r", "ghcr.io/o/r:latest", "ghcr.io/o/r:latest"),
        (f"redis@{DIGEST}", f"docker.io/library/redis@{DIGEST}", f"redis@{DIGEST}"),
        (f"redis:7@{DIGEST}", f"docker.io/library/redis:7@{DIGEST}", f"redis:7@{DIGEST}"),
        ("a__b.c-d---e", "docker.io/library/a__b.c-d---e:latest", "a__b.c-d---e:latest"),
    ],
)
def test_references_normalise_as_docker_does(text, full, familiar):
    reference = parse_reference(text)
    assert str(reference) == full
    assert reference.familiar == familiar


def test_parts_and_api_host():
    hub = parse_reference("redis:7")
    assert (hub.registry, hub.repository, hub.tag, hub.digest) == (
        "docker.io",
        "library/redis",
        "7",
        None,
    )
    assert hub.api_host == "registry-1.docker.io"
    assert parse_reference("localhost:5000/x").api_host == "localhost:5000"
    pinned = parse_reference(f"redis@{DIGEST}")
    assert (pinned.tag, pinned.digest) == (None, DIGEST)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" redis", "spaces"),
        ("Redis", "lowercase"),
        ("redis:", "invalid tag ''"),
        ("redis:-x", "invalid tag '-x'"),
        ("redis@sha256:abc", "invalid digest"),
        ("redis@md5", "invalid digest"),
        ("a//b", "invalid repository name"),
        ("a-/b", "invalid repository name"),
        ("_a", "invalid repository name"),
        ("bad_host.:5000/x", "invalid registry"),
        ("x" * 300, "longer than 255"),
    ],
)
def test_bad_references_say_why(text, message):
    with pytest.raises(ReferenceError, match=None) as caught:
        parse_reference(text)
    assert message in str(caught.value)


def test_image_ids():
    assert is_image_id("0123456789ab")
    assert is_image_id("sha256:" + "0" * 64)
    assert not is_image_id("0123456789a")
    assert not is_image_id("redis")


def test_platforms():
    assert parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert parse_platform("linux/x86_64") == Platform("linux", "amd64")
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"
    for bad in ("linux", "linux/", "a/b/c/d"):
        with pytest.raises(ReferenceError, match="OS/ARCH"):
            parse_platform(bad)
    assert host_platform("x86_64") == Platform("linux", "amd64")
    assert host_platform("armv7l") == Platform("linux", "arm", "v7")
    assert host_platform("aarch64") == Platform("linux", "arm64")


def test_platform_matching():
    arm64 = Platform("linux", "arm64")
    assert platform_matches(arm64, Platform("linux", "arm64", "v8"))
    assert platform_matches(Platform("linux", "arm64", "v8"), arm64)
    assert not platform_matches(Platform("linux", "arm", "v7"), Platform("linux", "arm", "v6"))
    assert platform_matches(Platform("linux", "arm"), Platform("linux", "arm", "v6"))
    assert not platform_matches(Platform("linux", "amd64"), arm64)

"""What `stackrun images` prints, as `docker images` prints it; digests and chain ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stackrun.cli.images_output import human_age, human_size, json_lines, quiet_lines, rows, table
from stackrun.images.digest import DigestError, chain_id, chain_ids, hex_of, short_name
from stackrun.images.model import ImageConfig, ImageRecord

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ID = "sha256:" + "3f2a9c1e0b7d" + "0" * 52


def image(references=(), digests=(), created="2026-05-25T12:00:00.123456789Z", size=77_800_000):
    return ImageRecord(ID, tuple(references), tuple(digests), ImageConfig(), (), size, created)


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0B"), (999, "999B"), (5_600, "5.6kB"), (77_812_345, "77.8MB"), (117_000_000, "117MB"),
    (1_234_567_890, "1.23GB"),
])  # fmt: skip
def test_sizes_are_decimal_with_three_digits(size, shown):
    assert human_size(size) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (45 * 60, "45 minutes"), (3600, "About an hour"), (5 * 3600, "5 hours"),
    (3 * 86400, "3 days"), (20 * 86400, "2 weeks"), (90 * 86400, "3 months"),
    (800 * 86400, "2 years"),
])  # fmt: skip
def test_ages_are_worded_as_docker_words_them(seconds, shown):
    assert human_age(seconds) == f"{shown} ago"


def test_one_row_per_tag_with_the_familiar_names():
    found = rows([image(["docker.io/library/redis:7", "localhost:5000/shop/web:1.2"])], NOW)
    assert table(found) == [
        ["redis", "7", "3f2a9c1e0b7d", "7 days ago", "77.8MB"],
        ["localhost:5000/shop/web", "1.2", "3f2a9c1e0b7d", "7 days ago", "77.8MB"],
    ]
    assert quiet_lines(found) == "3f2a9c1e0b7d\n"


def test_an_untagged_image_shows_none_or_its_repository():
    assert table(rows([image()], NOW))[0][:2] == ["<none>", "<none>"]
    pinned = image(digests=["docker.io/library/redis@sha256:" + "ab" * 32])
    found = rows([pinned], NOW)
    assert table(found)[0][:2] == ["redis", "<none>"]
    assert found[0]["Digest"] == "sha256:" + "ab" * 32


def test_json_rows_have_dockers_keys():
    line = json_lines(rows([image(["docker.io/library/redis:7"])], NOW))
    assert line.startswith('{"Containers": "N/A", "CreatedAt": "2026-05-25 12:00:00 +0000 UTC"')
    assert '"Repository": "redis", "Size": "77.8MB", "Tag": "7"' in line


@pytest.mark.parametrize(("wanted", "shown"), [
    ("redis", ["7", "latest"]), ("redis:7", ["7"]), ("docker.io/library/redis", ["7", "latest"]),
    ("localhost:5000/shop/web", ["1"]), ("localhost:5000/shop/web:2", []), ("nginx", []),
])  # fmt: skip
def test_a_repository_argument_filters_rows(wanted, shown):
    images = [image(["docker.io/library/redis:7", "docker.io/library/redis:latest",
                     "localhost:5000/shop/web:1"])]  # fmt: skip
    assert [row["Tag"] for row in rows(images, NOW, wanted)] == shown


def test_an_image_without_creation_time_says_so():
    assert rows([image(created="")], NOW)[0]["CreatedSince"] == "N/A"
    assert (
        rows([image(created="2026-05-31T12:00:00Z")], NOW + timedelta(0))[0]["CreatedSince"]
        == "24 hours ago"
    )


def test_chain_ids_follow_the_oci_image_spec():
    first, second = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_id(None, first) == first
    import hashlib

    expected = "sha256:" + hashlib.sha256(f"{first} {second}".encode()).hexdigest()
    assert chain_ids([first, second]) == [first, expected]
    assert len(short_name(expected)) == 20 and short_name(expected).isalnum()
    with pytest.raises(DigestError):
        hex_of("sha512:" + "a" * 128)
    with pytest.raises(DigestError):
        hex_of("sha256:" + "A" * 64)

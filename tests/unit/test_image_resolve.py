"""images/resolve.py: which images `up` pulls first (pull_policy), and each service's image
found in the store or an error naming the service and the image. The store here is a
dictionary with the two questions resolve asks (the real one has its own tests)."""

from __future__ import annotations

import pytest

from stackrun.errors import ImageError
from stackrun.images.model import ImageConfig, ImageRecord, Platform
from stackrun.images.reference import parse_reference
from stackrun.images.resolve import Wanted, find, period, to_pull

NOW = 1_800_000_000.0
DAY = 86400.0
AMD64 = Platform("linux", "amd64")


class Store:
    def __init__(self, images: dict[str, ImageRecord], pulled: dict[str, float] | None = None):
        self.records, self.times = images, pulled or {}
        self.asked: list[str] = []

    def image(self, name: str) -> ImageRecord | None:
        self.asked.append(name)
        return self.records.get(name)

    def pulled(self, name: str) -> float | None:
        return self.times.get(name)


def record(architecture: str = "amd64") -> ImageRecord:
    config = ImageConfig(cmd=("x",), architecture=architecture)
    return ImageRecord("sha256:" + "a" * 64, (), (), config, (), 0)


def want(service: str, image: str, policy: str = "missing", platform=None) -> Wanted:
    return Wanted(service, parse_reference(image), platform, policy)


REDIS = "docker.io/library/redis:7"


@pytest.mark.parametrize(
    ("policy", "stored", "last_pull", "pulls"),
    [
        ("missing", False, None, True),
        ("missing", True, None, False),
        ("always", True, NOW - 1, True),
        ("never", False, None, False),  # find() says so
        ("daily", True, NOW - DAY + 60, False),
        ("daily", True, NOW - DAY - 60, True),
        ("daily", True, None, True),  # loaded, never pulled: pulled once
        ("daily", False, NOW - 60, True),
        ("weekly", True, NOW - 6 * DAY, False),
        ("weekly", True, NOW - 8 * DAY, True),
        ("every_12h", True, NOW - 13 * 3600, True),
        ("every_1d12h", True, NOW - 30 * 3600, False),
    ],
)
def test_pull_policies(policy, stored, last_pull, pulls):
    store = Store({REDIS: record()} if stored else {}, {REDIS: last_pull} if last_pull else {})
    assert bool(to_pull([want("db", "redis:7", policy)], store, NOW)) == pulls


def test_each_image_is_pulled_once_for_every_service_wanting_it():
    wanted = [want("a", "redis:7"), want("b", "redis:7"), want("c", "nginx"), want("d", "redis:7")]
    assert [w.service for w in to_pull(wanted, Store({}), NOW)] == ["a", "c"]


def test_the_store_is_asked_once_per_image_however_many_services_run_it():
    """A stack of 30 replicas of one image reads its record once, not 30 times (`up -d`
    checks its compiled plan's images at every start)."""
    store = Store({REDIS: record()})
    wanted = [want(f"s{i}", "redis:7") for i in range(30)]
    assert to_pull(wanted, store, NOW) == [] and store.asked == [REDIS]
    store.asked.clear()
    assert len(find(wanted, store)) == 30 and store.asked == [REDIS]


def test_every_service_gets_its_record():
    stored = record()
    found = find(
        [want("a", "redis:7"), want("b", "docker.io/library/redis:7")], Store({REDIS: stored})
    )
    assert found == {"a": stored, "b": stored}


def test_a_missing_image_names_the_service_the_image_and_what_to_do():
    with pytest.raises(ImageError) as caught:
        find([want("db", "redis:7", "never")], Store({}))
    assert str(caught.value) == (
        "db: image redis:7: not in the image store and pull_policy is never; pull it with "
        "`stackrun pull db` or load it with `stackrun load -i FILE`"
    )
    assert (caught.value.service, caught.value.image) == ("db", "redis:7")


def test_a_platform_asked_for_must_match_the_stored_image():
    store = Store({REDIS: record("arm64")})
    wanted = [want("db", "redis:7", platform=AMD64)]
    assert to_pull(wanted, store, NOW) == wanted
    with pytest.raises(ImageError, match="the store holds it for linux/arm64, not linux/amd64"):
        find(wanted, store)
    assert find([want("db", "redis:7")], store)["db"].config.architecture == "arm64"
    assert find([want("db", "redis:7", platform=Platform("linux", "arm64", "v8"))], store)


def test_periods():
    assert (period("daily"), period("weekly")) == (DAY, 7 * DAY)
    assert period("every_90m") == 5400 and period("every_1.5h") == 5400
    for bad in ("every_", "every_5", "every_5x", "hourly", "every_1h_"):
        with pytest.raises(ValueError):
            period(bad)

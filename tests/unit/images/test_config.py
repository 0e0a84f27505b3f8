"""An image's config JSON read into ImageConfig."""

from __future__ import annotations

import pytest

from stackrun.images.config import ConfigError, image_config
from stackrun.images.model import ImageHealth


def test_a_docker_config_is_read():
    config = image_config({
        "architecture": "arm", "variant": "v7", "os": "linux",
        "config": {
            "Entrypoint": ["docker-entrypoint.sh"], "Cmd": ["redis-server"],
            "Env": ["PATH=/usr/local/bin:/usr/bin", "EMPTY=", "EQ=a=b"],
            "WorkingDir": "/data", "User": "redis:redis",
            "ExposedPorts": {"6379/tcp": {}}, "Volumes": {"/data": {}},
            "Labels": {"b": "2", "a": "1"}, "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD-SHELL", "redis-cli ping"], "Interval": 5_000_000_000,
                            "Retries": 3},
        },
    })  # fmt: skip
    assert config.entrypoint == ("docker-entrypoint.sh",)
    assert config.cmd == ("redis-server",)
    assert config.env == (("PATH", "/usr/local/bin:/usr/bin"), ("EMPTY", ""), ("EQ", "a=b"))
    assert (config.working_dir, config.user) == ("/data", "redis:redis")
    assert config.exposed_ports == ("6379/tcp",)
    assert config.volumes == ("/data",)
    assert config.labels == (("a", "1"), ("b", "2"))
    assert config.stop_signal == "SIGQUIT"
    assert config.healthcheck == ImageHealth(
        ("CMD-SHELL", "redis-cli ping"), interval=5.0, retries=3
    )
    assert (config.architecture, config.variant) == ("arm", "v7")


def test_an_empty_config_means_defaults():
    config = image_config({"architecture": "amd64", "os": "linux"})
    assert (config.entrypoint, config.cmd, config.env, config.healthcheck) == (None, None, (), None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"config": []}, "'config' is not an object"),
        ({"config": {"Cmd": "echo"}}, "Cmd is not a list of strings"),
        ({"config": {"Env": [1]}}, "Env is not a list of strings"),
        ({"config": {"User": 0}}, "User is not a string"),
        ({"config": {"Labels": []}}, "Labels is not an object"),
        ({"config": {"Healthcheck": {"Interval": -1}}}, "Interval is not a non-negative"),
    ],
)
def test_bad_configs_name_the_field(document, message):
    with pytest.raises(ConfigError) as caught:
        image_config(document)
    assert message in str(caught.value)

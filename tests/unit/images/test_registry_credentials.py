"""Credentials in Docker's config.json, and credential helpers (a helper of our own, run
as Docker runs them: `docker-credential-NAME get|store|erase`, the server on stdin)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys

import pytest

from stackrun.images.registry import credentials
from stackrun.images.registry.credentials import Credential, CredentialsError

HELPER = r"""#!PYTHON
import json, sys, pathlib
store = pathlib.Path(__file__).with_suffix(".json")
data = json.loads(store.read_text()) if store.exists() else {}
verb = sys.argv[1]
text = sys.stdin.read()
pathlib.Path(__file__).with_suffix(".log").open("a").write(f"{verb} {text.strip()}\n")
if verb == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = data[text.strip()]
    print(json.dumps({"ServerURL": text.strip(), "Username": user, "Secret": secret}))
elif verb == "store":
    item = json.loads(text); data[item["ServerURL"]] = [item["Username"], item["Secret"]]
elif verb == "erase":
    data.pop(text.strip(), None)
elif verb == "broken":
    pass
store.write_text(json.dumps(data))
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "docker" / "config.json"


@pytest.fixture
def helper(tmp_path, monkeypatch):
    """docker-credential-test on PATH; returns the helper's directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-test"
    script.write_text(HELPER.replace("PYTHON", sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def write(config, document):
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(document))


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_config_path_follows_docker_config(tmp_path):
    assert credentials.config_path({"DOCKER_CONFIG": "/x"}) == credentials.Path("/x/config.json")
    assert str(credentials.config_path({"HOME": "/home/ann"})) == "/home/ann/.docker/config.json"


def test_auths_base64_and_key_forms(config):
    write(config, {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:pw1")},
        "https://ghcr.io": {"auth": b64("gh:pw:with:colons")},
        "reg.lan:5000": {"identitytoken": "refresh-1", "auth": b64("ann:")},
    }})  # fmt: skip
    assert credentials.lookup("docker.io") == Credential("hub", "pw1")
    assert credentials.lookup("ghcr.io") == Credential("gh", "pw:with:colons")
    assert credentials.lookup("reg.lan:5000").identity_token == "refresh-1"
    assert credentials.lookup("quay.io") is None


def test_no_file_means_anonymous(config):
    assert credentials.lookup("ghcr.io") is None


def test_bad_file_is_an_error_naming_it(config):
    write(config, {"auths": []})
    with pytest.raises(CredentialsError, match=str(config)):
        credentials.lookup("ghcr.io")
    config.write_text("{")
    with pytest.raises(CredentialsError, match="not valid JSON"):
        credentials.lookup("ghcr.io")
    write(config, {"auths": {"ghcr.io": {"auth": "%%%"}}})
    with pytest.raises(CredentialsError, match="not base64"):
        credentials.lookup("ghcr.io")


def test_save_writes_0600_keeps_other_keys_and_replaces_aliases(config):
    write(config, {"auths": {"https://ghcr.io/": {"auth": b64("old:old")}}, "psFormat": "x"})
    credentials.save("ghcr.io", Credential("ann", "secret"))
    document = json.loads(config.read_text())
    assert document["psFormat"] == "x"
    assert document["auths"] == {"ghcr.io": {"auth": b64("ann:secret")}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert credentials.lookup("ghcr.io") == Credential("ann", "secret")


def test_docker_hub_is_saved_under_its_historical_key(config):
    credentials.save("docker.io", Credential("ann", "pw"))
    assert list(json.loads(config.read_text())["auths"]) == ["https://index.docker.io/v1/"]
    assert credentials.erase("index.docker.io")
    assert json.loads(config.read_text())["auths"] == {}
    assert not credentials.erase("docker.io")


def test_creds_store_helper_get_store_erase(config, helper):
    write(config, {"auths": {}, "credsStore": "test"})
    assert credentials.lookup("reg.lan:5000") is None  # "credentials not found": anonymous
    credentials.save("reg.lan:5000", Credential("ann", "s3cret"))
    document = json.loads(config.read_text())
    assert document["auths"] == {"reg.lan:5000": {}}  # the secret is in the helper only
    assert "s3cret" not in config.read_text()
    assert credentials.lookup("reg.lan:5000") == Credential("ann", "s3cret")
    assert credentials.erase("reg.lan:5000")
    assert credentials.lookup("reg.lan:5000") is None
    log = (helper / "docker-credential-test.log").read_text().splitlines()
    assert log[0] == "get reg.lan:5000"
    assert log[1].startswith("store {")
    assert "erase reg.lan:5000" in log


def test_cred_helpers_win_over_auths_and_token_user_is_an_identity_token(config, helper):
    (helper / "docker-credential-test.json").write_text(
        json.dumps({"ghcr.io": ["<token>", "refresh-9"]})
    )
    write(config, {"auths": {"ghcr.io": {"auth": b64("file:file")}},
                   "credHelpers": {"ghcr.io": "test"}})  # fmt: skip
    assert credentials.lookup("ghcr.io") == Credential(identity_token="refresh-9")
    assert credentials.lookup("quay.io") is None


def test_missing_or_failing_helper_is_an_error_naming_it(config, helper):
    write(config, {"credsStore": "absent"})
    with pytest.raises(CredentialsError, match="docker-credential-absent is not installed"):
        credentials.lookup("ghcr.io")
    script = helper / "docker-credential-test"
    script.write_text("#!/bin/sh\necho 'keyring locked' >&2\nexit 3\n")
    write(config, {"credsStore": "test"})
    with pytest.raises(CredentialsError, match="docker-credential-test get failed: keyring locked"):
        credentials.lookup("ghcr.io")


def test_repr_hides_the_secret():
    assert "pw" not in repr(Credential("ann", "pw", "tok"))

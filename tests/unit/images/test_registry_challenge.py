"""WWW-Authenticate challenges as registries send them."""

from __future__ import annotations

from stackrun.images.registry.challenge import parse_challenge


def test_bearer_challenge_of_docker_hub():
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/redis:pull"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.params["service"] == "registry.docker.io"
    assert challenge.params["scope"] == "repository:library/redis:pull"


def test_basic_challenge_and_spaces_and_unquoted_values():
    challenge = parse_challenge('Basic  realm = "Registry Realm" , charset=UTF-8')
    assert challenge.scheme == "basic"
    assert challenge.params == {"realm": "Registry Realm", "charset": "UTF-8"}


def test_scope_with_several_actions_and_escaped_quote():
    challenge = parse_challenge(
        r'Bearer realm="https://a/t",scope="repository:x/y:pull,push",error="a\"b"'
    )
    assert challenge.params["scope"] == "repository:x/y:pull,push"
    assert challenge.params["error"] == 'a"b'


def test_empty_header_asks_nothing():
    assert parse_challenge("").scheme == ""

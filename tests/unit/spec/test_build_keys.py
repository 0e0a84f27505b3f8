"""`build:` in the stack file: the short form, the context against the file's directory,
args (a name alone takes the variable), what builds cannot do, and the image it names."""

from __future__ import annotations


def test_the_short_form_is_the_context(stack_dir):
    stack = stack_dir.load("name: shop\nservices:\n  api:\n    build: ./api\n")
    build = stack.services["api"].build
    assert build.context == str(stack_dir.root / "api")
    assert (build.dockerfile, build.args, build.no_cache) == (None, {}, False)
    assert stack.image_of("api") == "shop-api"  # as Compose names it


def test_the_long_form(stack_dir):
    stack = stack_dir.load(
        """
        services:
          api:
            image: registry.example/api:2
            build:
              context: ../src
              dockerfile: docker/Dockerfile.prod
              args: [PLAIN=1, FROM_ENV, UNSET]
              target: runtime
              labels: {team: core}
              no_cache: true
              pull: true
              network: none
              tags: [api:latest]
            pull_policy: build
        """,
        environ={"FROM_ENV": "from the environment"},
    )
    build = stack.services["api"].build
    assert build.context == str(stack_dir.root.parent / "src")
    assert build.dockerfile == "docker/Dockerfile.prod"
    assert build.args == {"PLAIN": "1", "FROM_ENV": "from the environment"}  # UNSET: left out
    assert (build.target, build.labels, build.no_cache, build.pull) == (
        "runtime",
        {"team": "core"},
        True,
        True,
    )
    assert (build.network, build.tags) == ("none", ("api:latest",))
    assert stack.services["api"].pull_policy == "build"
    assert stack.image_of("api") == "registry.example/api:2"  # image: names what is built


def test_a_build_service_needs_no_command(stack_dir):
    stack = stack_dir.load('services:\n  api:\n    build: .\n  cli:\n    command: ["true"]\n')
    assert stack.image_of("cli") is None


def test_build_keys_that_are_only_ignored(stack_dir):
    warnings = stack_dir.warnings(
        "services:\n  api:\n    build:\n      context: .\n      cache_from: [x]\n"
    )
    assert warnings == [
        "stack.yaml:5:7: services.api.build.cache_from: ignored: stackrun's build cache is local"
    ]

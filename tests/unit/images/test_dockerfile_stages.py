"""Stages: global ARGs, what FROM and COPY --from name, the target and what it needs."""

from __future__ import annotations

import re

import pytest

from stackrun.images.dockerfile import parse, stages
from stackrun.images.dockerfile.problems import DockerfileProblem

MULTI = """\
ARG BASE=busybox
ARG TAG=${BASE}-1
FROM ${BASE}:${TAG} AS deps
RUN make deps
FROM deps AS build
COPY --from=tools /bin/x /x
FROM alpine AS tools
FROM scratch AS unused
FROM build
COPY --from=0 /a /a
COPY --from=build /b /b
COPY --from=docker.io/library/nginx:1 /etc/nginx /etc/nginx
"""


def test_global_values_use_defaults_build_args_and_earlier_args():
    dockerfile = parse(MULTI)
    assert stages.global_values(dockerfile, {}, {"TARGETARCH": "amd64"}) == {
        "TARGETARCH": "amd64",
        "BASE": "busybox",
        "TAG": "busybox-1",
    }
    assert stages.global_values(dockerfile, {"BASE": "alpine"}, {})["TAG"] == "alpine-1"
    assert stages.global_values(dockerfile, {"TAG": "x"}, {}) == {"BASE": "busybox", "TAG": "x"}


def test_an_arg_without_value_is_undefined():
    dockerfile = parse("ARG A\nARG B=${A:-none}\nFROM x\n")
    assert stages.global_values(dockerfile, {}, {}) == {"B": "none"}


def test_bases():
    dockerfile = parse(MULTI)
    args = stages.global_values(dockerfile, {}, {})
    bases = [stages.base(dockerfile, stage, args) for stage in dockerfile.stages]
    assert bases == [
        stages.Base(image="busybox:busybox-1"),
        stages.Base(stage=0),
        stages.Base(image="alpine"),
        stages.Base(image="scratch"),
        stages.Base(stage=1),
    ]
    assert bases[3].scratch and not bases[0].scratch


def test_a_stage_named_later_is_an_image():
    dockerfile = parse("FROM later\nFROM alpine AS later\n")
    assert stages.base(dockerfile, dockerfile.stages[0], {}) == stages.Base(image="later")


def test_platform_is_expanded_with_global_args():
    dockerfile = parse("FROM --platform=$BUILDPLATFORM golang AS build\n")
    base = stages.base(dockerfile, dockerfile.stages[0], {"BUILDPLATFORM": "linux/amd64"})
    assert base == stages.Base(image="golang", platform="linux/amd64")


def test_an_empty_base_name_is_an_error():
    dockerfile = parse("ARG IMAGE\nFROM ${IMAGE}\n")
    with pytest.raises(
        DockerfileProblem, match=re.escape("FROM: the image name '${IMAGE}' is empty")
    ):
        stages.base(dockerfile, dockerfile.stages[0], {})


def test_a_bad_expansion_in_from_is_located():
    dockerfile = parse("ARG A\nFROM ${A:?unset}\n")
    with pytest.raises(DockerfileProblem, match="FROM: A: unset") as caught:
        stages.base(dockerfile, dockerfile.stages[0], {})
    assert (caught.value.line, caught.value.column) == (2, 1)


def test_copy_sources():
    dockerfile = parse(MULTI)
    final = dockerfile.stages[4]
    copies = [stages.copy_source(dockerfile, final, c) for c in final.instructions]
    assert copies == [
        stages.Base(stage=0),
        stages.Base(stage=1),
        stages.Base(image="docker.io/library/nginx:1"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\nCOPY --from=0 x y\n", "cannot copy from itself"),
        ("FROM a\nCOPY --from=7 x y\n", "there is no stage 7"),
        ("ARG S=a\nFROM a\nCOPY --from=$S x y\n", "variable expansion is not supported"),
    ],
)
def test_copy_source_errors(text, message):
    dockerfile = parse(text)
    stage = dockerfile.stages[0]
    with pytest.raises(DockerfileProblem, match=message):
        stages.copy_source(dockerfile, stage, stage.instructions[0])


def test_target_and_needed_stages():
    dockerfile = parse(MULTI)
    args = stages.global_values(dockerfile, {}, {})
    assert stages.target(dockerfile, None).index == 4
    assert stages.target(dockerfile, "Build").index == 1
    assert stages.needed(dockerfile, stages.target(dockerfile, None), args) == [0, 1, 2, 4]
    assert stages.needed(dockerfile, stages.target(dockerfile, "tools"), args) == [2]
    with pytest.raises(DockerfileProblem, match="target stage 'nope' could not be found"):
        stages.target(dockerfile, "nope")


def test_a_stage_may_copy_from_a_later_one_but_not_in_a_circle():
    dockerfile = parse("FROM a AS one\nCOPY --from=two x y\nFROM b AS two\n")
    assert stages.needed(dockerfile, dockerfile.stages[0], {}) == [0, 1]
    circle = parse("FROM a AS one\nCOPY --from=two x y\nFROM one AS two\n")
    with pytest.raises(
        DockerfileProblem, match="circular dependency between stages: two -> one -> two"
    ):
        stages.needed(circle, circle.stages[1], {})


def test_labels():
    dockerfile = parse("FROM a AS named\nFROM b\n")
    assert [stage.label for stage in dockerfile.stages] == ["named", "stage-1"]

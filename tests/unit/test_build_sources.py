"""COPY sources found in a build context: globs per component, .dockerignore, links kept
inside the context, directory contents, and the digest the cache keys on."""

from __future__ import annotations

import os
import re

import pytest

from stackrun.build.sources import Child, SourceError, Tree, clean
from stackrun.images.dockerfile.ignore import Matcher, read


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "ctx"
    for name, text in {
        "app.py": "print(1)\n",
        "lib/util.py": "x = 1\n",
        "lib/data.json": "{}\n",
        "lib/sub/deep.py": "y = 2\n",
        "docs/a.md": "a\n",
        "docs/keep.md": "keep\n",
        "node_modules/pkg/index.js": "js\n",
        "secret.env": "KEY=1\n",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "link-to-lib").symlink_to("lib")
    (root / "escape").symlink_to("/etc")
    (root / "dotdot").symlink_to("../../..")
    (tmp_path / "outside.txt").write_text("outside\n")
    return root


def tree(root, ignore: str = "") -> Tree:
    return Tree(str(root), Matcher(read(ignore)) if ignore else None)


def names(sources) -> list[tuple[str, str, bool]]:
    return [(s.path, s.name, s.is_dir) for s in sources]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a/./b/../c", "a/c"),
        ("/abs/path/", "abs/path"),
        (".", ""),
        ("a/..", ""),
    ],
)
def test_clean(source, expected):
    assert clean(source) == expected


def test_clean_refuses_to_leave_the_context():
    with pytest.raises(SourceError, match="outside the build context"):
        clean("../x")


def test_plain_paths_and_globs(context):
    with tree(context) as found:
        assert names(found.find("app.py")) == [("app.py", "app.py", False)]
        assert names(found.find("/app.py")) == [("app.py", "app.py", False)]
        assert names(found.find("lib/*.py")) == [("lib/util.py", "util.py", False)]
        assert names(found.find("*/*.md")) == [
            ("docs/a.md", "a.md", False),
            ("docs/keep.md", "keep.md", False),
        ]
        assert names(found.find("l?b/[s-z]*")) == [
            ("lib/sub", "sub", True),
            ("lib/util.py", "util.py", False),
        ]
        assert found.find("*.nothing") == []  # an empty wildcard is no error, as in BuildKit


def test_a_missing_plain_path_is_an_error(context):
    with (
        tree(context) as found,
        pytest.raises(SourceError, match=re.escape("missing.txt: not found")),
    ):
        found.find("missing.txt")


def test_a_directory_gives_its_contents(context):
    with tree(context) as found:
        (lib,) = found.find("lib")
    assert lib.is_dir and lib.path == "lib"
    assert lib.children == (
        Child("data.json", "file"),
        Child("sub", "dir"),
        Child("util.py", "file"),
        Child("sub/deep.py", "file"),
    )


def test_links_are_followed_inside_the_context_only(context):
    with tree(context) as found:
        (through,) = found.find("link-to-lib/util.py")
        assert through.path == "lib/util.py"
        with pytest.raises(SourceError, match="not found"):
            found.find("escape/passwd")  # /etc as seen from the context's root: not there
        with pytest.raises(SourceError, match="not found"):
            found.find("dotdot/outside.txt")
        (root,) = found.find(".")
        kinds = {child.path: child.kind for child in root.children}
    assert kinds["escape"] == "link" and kinds["link-to-lib"] == "link"  # copied as links


def test_dockerignore_hides_paths(context):
    ignore = "node_modules\n*.env\ndocs\n!docs/keep.md\n"
    with tree(context, ignore) as found:
        with pytest.raises(SourceError, match=re.escape("secret.env: not found")):
            found.find("secret.env")
        assert found.find("*.env") == []
        (root,) = found.find(".")
        assert names(found.find("docs/*")) == [("docs/keep.md", "keep.md", False)]
    paths = [child.path for child in root.children]
    assert "node_modules" not in paths and "node_modules/pkg/index.js" not in paths
    assert "secret.env" not in paths and "docs/a.md" not in paths
    assert "docs/keep.md" in paths and "app.py" in paths


def test_a_bad_glob_is_an_error(context):
    with tree(context) as found, pytest.raises(SourceError, match="bad pattern"):
        found.find("lib/[")


def test_digest_follows_contents_and_modes_not_times(context):
    with tree(context) as found:
        first = found.digest(found.find("lib"))
        os.utime(context / "lib/util.py", (1, 1))
        assert found.digest(found.find("lib")) == first  # touched: the same
        (context / "lib/util.py").write_text("x = 2\n")
        changed = found.digest(found.find("lib"))
        assert changed != first
        os.chmod(context / "lib/util.py", 0o755)
        assert found.digest(found.find("lib")) != changed
        (context / "lib/new.txt").write_text("")
        assert found.digest(found.find("lib")) not in (first, changed)
        assert found.digest(found.find("app.py")) != found.digest(found.find("lib/util.py"))

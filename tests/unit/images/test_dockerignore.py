""".dockerignore as moby's pattern matcher reads it, and Go's filepath.Match for COPY."""

from __future__ import annotations

import pytest

from stackrun.images.dockerfile import globs
from stackrun.images.dockerfile.ignore import BadIgnorePattern, Matcher, go_clean, read


def excluded(patterns: list[str], path: str) -> bool:
    return Matcher([(p, n) for n, p in enumerate(patterns, 1)]).excluded(path)


def test_read_cleans_patterns():
    text = "\ufeff# comment\n  \n*.pyc\n/abs/path/\n ! keep.pyc \n./a/../b\n #not a comment\n"
    assert read(text) == [
        ("*.pyc", 3),
        ("abs/path", 4),
        ("!keep.pyc", 5),
        ("b", 6),
        ("#not a comment", 7),
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*", "file", True),
        ("*.go", "main.go", True),
        ("*.go", "pkg/main.go", False),  # `*` stops at `/`
        ("**/*.go", "pkg/sub/main.go", True),
        ("**/*.go", "main.go", True),
        ("**", "any/thing", True),
        ("dir/**", "dir/a/b", True),
        ("dir/**", "dir", False),
        ("**/node_modules", "node_modules", True),
        ("**/node_modules", "web/node_modules/x/y", True),  # a parent directory matches
        ("docs", "docs/README.md", True),
        ("docs/", "docs/README.md", True),
        ("a[b-d]e", "ace", True),
        ("a[^b-d]e", "ace", False),
        ("abc?def", "abcZdef", True),
        ("abc.def", "abcZdef", False),  # `.` is literal
        ("a(b)c/def", "a(b)c/def", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("dist/*.whl", "dist/x-1.0+g0-py3-none-any.whl", True),
        (".git", ".gitignore", False),
    ],
)
def test_matches(pattern, path, expected):
    assert excluded([pattern], path) is expected


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["!README.md", "*.md"], "README.md", True),  # the last matching line decides
        (["docs", "!docs/keep.md"], "docs/keep.md", False),
        (["docs", "!docs/keep.md"], "docs/other.md", True),
        (["**", "!src", "src/*.tmp"], "src/a.tmp", True),
        (["**", "!src", "src/*.tmp"], "src/a.py", False),
    ],
)
def test_exceptions(patterns, path, expected):
    assert excluded(patterns, path) is expected


def test_the_context_itself_is_never_excluded():
    assert excluded(["*", "**"], ".") is False


def test_a_lone_exclamation_is_an_error_with_its_line():
    with pytest.raises(BadIgnorePattern, match='illegal exclusion pattern: "!"') as caught:
        Matcher([("a", 1), ("!", 2)])
    assert caught.value.line == 2


def test_go_clean():
    assert [go_clean(p) for p in ("", "a//b/", "//x", "/../a", "./a/./b/..")] == [
        ".",
        "a/b",
        "/x",
        "/a",
        "a",
    ]


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "a/b.txt", False),
        ("?", "a", True),
        ("?", "/", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("[\\]]", "]", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("a*b*c", "aXbYc", True),
        ("[z-a]", "m", False),  # a reversed range matches nothing, as in Go
        ("*", ".hidden", True),  # Go's Match has no special case for dot files
    ],
)
def test_go_match(pattern, name, expected):
    assert globs.match(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["[", "[]", "[a-]", "a\\", "[^", "[-a]"])
def test_go_bad_patterns(pattern):
    with pytest.raises(globs.BadPattern):
        globs.match(pattern, "a")


def test_has_magic():
    assert globs.has_magic("src/*.py") and globs.has_magic("a[bc]")
    assert not globs.has_magic("plain/path.txt")

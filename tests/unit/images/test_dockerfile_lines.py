"""The Dockerfile reader: directives, continuations, comments, heredocs, positions."""

from __future__ import annotations

import pytest

from stackrun.images.dockerfile.lines import Heredoc, heredoc, read
from stackrun.images.dockerfile.problems import DockerfileProblem


def texts(text: str) -> list[str]:
    return [line.text for line in read(text).lines]


def test_comments_and_blank_lines_are_skipped():
    assert texts("# a comment\n\nFROM a\n   # indented comment\nRUN x\n") == ["FROM a", "RUN x"]


def test_a_continuation_joins_lines_as_buildkit_does():
    # the escape and the spaces after it go; a continuation line keeps its indentation
    assert texts("RUN a \\  \n    b \\\n c\n") == ["RUN a     b  c"]


def test_comments_and_blank_lines_inside_a_continuation_are_skipped():
    source = "RUN a \\\n# a comment \\\n\n   \n  b\nRUN c\n"
    assert texts(source) == ["RUN a   b", "RUN c"]


def test_an_escaped_escape_does_not_continue():
    assert texts("RUN echo \\\\\nRUN b\n") == ["RUN echo \\\\", "RUN b"]


def test_a_continuation_at_the_end_of_the_file_ends_the_instruction():
    assert texts("FROM a\nRUN x \\") == ["FROM a", "RUN x "]


def test_crlf_line_ends_and_a_byte_order_mark():
    assert texts("\ufeffFROM a\r\nRUN b \\\r\n c\r\n") == ["FROM a", "RUN b  c"]


def test_escape_directive_backtick():
    source = read("# escape=`\nFROM a\nRUN dir c:\\ `\n  /s\n")
    assert source.escape == "`"
    assert [line.text for line in source.lines] == ["FROM a", "RUN dir c:\\   /s"]


@pytest.mark.parametrize(
    "source",
    [
        "FROM a\n# escape=`\nRUN x `\n",  # after an instruction: a comment
        "# comment\n# escape=`\nFROM a\n",  # after another comment
        "\n# escape=`\nFROM a\n",  # after a blank line
        "# unknown=1\n# escape=`\nFROM a\n",  # after an unknown directive
    ],
)
def test_directives_count_only_at_the_very_top(source):
    assert read(source).escape == "\\"


def test_directives_syntax_check_and_spacing():
    source = read("#  SYNTAX = docker/dockerfile:1.7  \n# check=skip=all\n#escape=\\\nFROM a\n")
    assert (source.syntax, source.syntax_line, source.escape) == ("docker/dockerfile:1.7", 1, "\\")


def test_a_repeated_directive_is_an_error():
    with pytest.raises(DockerfileProblem, match="only one escape parser directive") as caught:
        read("# escape=\\\n# escape=`\nFROM a\n")
    assert caught.value.line == 2


def test_an_invalid_escape_token_is_an_error():
    with pytest.raises(DockerfileProblem, match="invalid escape token 'x'"):
        read("# escape=x\nFROM a\n")


def test_positions_of_pieces():
    source = read("FROM a\n\n   RUN a \\\n  bb \\\n# c\n ccc\n")
    line = source.lines[1]
    assert line.text == "RUN a   bb  ccc"
    assert line.line == 3 and line.end_line == 6
    assert line.at(0) == (3, 4)  # RUN, after the indentation
    assert line.at(4) == (3, 8)  # a
    assert line.at(line.text.index("bb")) == (4, 3)
    assert line.at(line.text.index("ccc")) == (6, 2)


def test_heredocs_of_run_and_copy():
    source = read(
        "FROM a\n"
        "RUN <<EOF\n"
        "echo one\n"
        "  echo two\n"
        "EOF\n"
        'COPY <<-"A" <<B /dest/\n'
        "\tliteral $X\n"
        "\tA\n"
        "b $X\n"
        "B\n"
        "RUN after\n"
    )
    run, copy, after = source.lines[1:]
    assert run.text == "RUN <<EOF"
    assert run.heredocs == (Heredoc("EOF", "echo one\n  echo two\n"),)
    assert copy.heredocs == (
        Heredoc("A", "\tliteral $X\n", expand=False, chomp=True),
        Heredoc("B", "b $X\n"),
    )
    assert copy.heredocs[0].body == "literal $X\n"
    assert after.text == "RUN after" and after.line == 11


def test_an_empty_heredoc_and_a_descriptor():
    source = read("FROM a\nRUN 3<<EOF cat <&3\nEOF\n")
    assert source.lines[1].heredocs == (Heredoc("EOF", "", fd=3),)


@pytest.mark.parametrize(
    "line",
    [
        'RUN ["sh", "-c", "cat <<EOF"]',  # exec form: no heredoc
        "RUN echo '<<EOF'",  # quoted
        'RUN echo "<<EOF"',
        "RUN cat<<EOF",  # glued to a word, as BuildKit reads it
        "ENV A=<<EOF",  # only RUN, COPY and ADD take heredocs
    ],
)
def test_no_heredoc(line):
    source = read(f"FROM a\n{line}\nEOF\n")
    assert len(source.lines) == 3 and not source.lines[1].heredocs


def test_an_unterminated_heredoc_is_an_error_at_its_line():
    with pytest.raises(DockerfileProblem, match="unterminated heredoc <<END") as caught:
        read("FROM a\n  RUN <<END\nno end\n")
    assert (caught.value.line, caught.value.column) == (2, 3)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<<EOF", Heredoc("EOF", "")),
        ("<<-EOF", Heredoc("EOF", "", chomp=True)),
        ("<<'EOF'", Heredoc("EOF", "", expand=False)),
        ('<<"E"OF', Heredoc("EOF", "", expand=False)),
        ("2<<EOF", Heredoc("EOF", "", fd=2)),
        ("<< EOF", Heredoc("EOF", "")),
        ("<<", None),
        ("<<EOF more", None),
        ("x<<EOF", None),
    ],
)
def test_heredoc_word(word, expected):
    assert heredoc(word) == expected

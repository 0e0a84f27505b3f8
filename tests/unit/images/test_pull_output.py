"""What `pull` prints: Compose's words, plain lines per change, a terminal block."""

from __future__ import annotations

from stackrun.cli.pull_output import PullView, size
from stackrun.images.progress import Event


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_plain_lines_only_when_the_state_changes():
    view = PullView({"web": "web"}, Clock())
    lines = [view.update(Event("web", "", "resolving")),
             view.update(Event("web", "aaaaaaaaaaaa", "waiting", 0, 100)),
             view.update(Event("web", "aaaaaaaaaaaa", "downloading", 10, 100)),
             view.update(Event("web", "aaaaaaaaaaaa", "downloading", 50, 100)),
             view.update(Event("web", "aaaaaaaaaaaa", "verifying", 100, 100)),
             view.update(Event("web", "aaaaaaaaaaaa", "extracting", 0, 100)),
             view.update(Event("web", "aaaaaaaaaaaa", "done", 0, 100)),
             view.update(Event("web", "bbbbbbbbbbbb", "exists", 0, 5)),
             view.update(Event("web", "", "pulled"))]  # fmt: skip
    assert [line for line in lines if line] == [
        "web Pulling",
        "aaaaaaaaaaaa Pulling fs layer",
        "aaaaaaaaaaaa Downloading",
        "aaaaaaaaaaaa Verifying Checksum",
        "aaaaaaaaaaaa Extracting",
        "aaaaaaaaaaaa Pull complete",
        "bbbbbbbbbbbb Already exists",
        "web Pulled",
    ]


def test_terminal_block_with_bar_and_elapsed_time():
    clock = Clock()
    view = PullView({"web": "web", "redis:7": "redis:7"}, clock)
    view.update(Event("web", "", "resolving"))
    view.update(Event("web", "aaaaaaaaaaaa", "downloading", 2_100_000, 4_200_000))
    view.update(Event("redis:7", "", "pulled"))
    clock.now = 1.5
    block = view.block(80)
    assert block[0] == "[+] Pulling 1/2"
    assert block[1].startswith(" ⠿ web Pulling") and block[1].endswith("1.5s")
    assert block[2].startswith("   ⠿ aaaaaaaaaaaa Downloading [==========>         ] 2.1MB/4.2MB")
    assert block[3].startswith(" ✔ redis:7 Pulled")
    assert all(len(line) <= 80 for line in block)
    assert view.block(30)[2] == "   ⠿ aaaaaaaaaaaa Downloading "
    assert view.fail("web") == "web Error"
    assert view.block(60)[1].startswith(" ✘ web Error")


def test_sizes_in_decimal_units():
    assert [size(n) for n in (999, 1000, 2_100_000, 31_400_000_000)] == [
        "999B", "1kB", "2.1MB", "31.4GB",
    ]  # fmt: skip

"""Real compose files (tests/compat/SOURCES.md): each loads as recorded in corpus.json,
or fails only on what it must, and means what the Compose specification says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compat.corpus import FILES, corpus_files, meaning, outcome

EXPECTED = json.loads(Path(__file__).with_name("corpus.json").read_text())
ENVIRON = {"PLEX_MEDIA_PATH": "/srv/media"}  # plex's README: set it before `up`
# What Compose itself refuses too, or what needs a runtime stackrun is not.
REFUSED = {
    "awesome-compose/wasmedge-kafka-mysql/compose.yml": "runtime: a WebAssembly runtime",
    "awesome-compose/wasmedge-mysql-nginx/compose.yml": "runtime: a WebAssembly runtime",
    "compose-go/loader/testdata/compose-depends-on-cycle.yaml": "Compose: dependency cycle",
    "compose-go/loader/testdata/compose-depends-on-profile-no-cycle.yaml": "Compose: a cycle too",
    "compose-go/loader/testdata/compose-depends-on-self.yaml": "Compose: dependency cycle",
    "compose-go/loader/testdata/compose-include-cycle.yaml": "Compose: include cycle",
    "compose-go/loader/testdata/empty.yaml": "Compose: no services",
    # a fragment for `extends`: `with-port` and `nil` have neither image nor build
    "compose-go/loader/testdata/extends/base.yaml": "Compose: neither image nor build",
    "compose-go/loader/testdata/include/dir/compose.yaml": "included with its project_directory",
}
CASES = [str(p.relative_to(FILES)) for p in corpus_files()]


def test_the_corpus_holds_forty_files_with_their_sources():
    assert len(CASES) >= 40
    assert set(CASES) == set(EXPECTED)
    sources = Path(__file__).with_name("SOURCES.md").read_text()
    assert all(f"`files/{case.split('/')[0]}/`" in sources for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_each_file_loads_as_recorded_and_means_what_compose_says(case):
    path = (FILES / case).absolute()
    expected = EXPECTED[case]
    assert outcome(path, ENVIRON) == expected["outcome"]
    assert meaning(path, ENVIRON) == expected["services"]
    assert expected["outcome"].startswith("refused") == (case in REFUSED)


def test_share_of_the_files_that_load(figures):
    """Every file loads (image: and build: both run) but those Compose refuses too, or that
    need a Wasm runtime."""
    outcomes = [EXPECTED[case]["outcome"] for case in CASES]
    now = sum(o == "loads" for o in outcomes)
    figures.record("compat corpus: files", len(CASES))
    figures.record("compat corpus: load as they are", f"{now} ({now / len(CASES):.0%})")
    assert not [o for o in outcomes if o.startswith("pending")]
    assert now == len(CASES) - len(REFUSED)

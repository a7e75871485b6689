"""docs/plexus-contract.md is the Plexus contract the code cites: every citation must resolve.

Code, tests and firmware notes cite sections as `docs/plexus-contract.md §4.2` (or, once a file
has named the document, a bare `§4.2`). These tests find every such citation and check that the
document has that section, that nothing still points at the old copy outside the repository, and
that the sections state the very numbers the sandbox and the detectors are built on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetscan import client, timeutil
from fleetscan.fleet import reduce
from fleetscan.sandbox import alerts, ingest, keys, telemetry_query
from fleetscan.simulate import generate

ROOT = Path(__file__).resolve().parent.parent
DOC_NAME = "docs/plexus-contract.md"
DOC = ROOT / DOC_NAME
SCANNED = ("fleetscan", "tests", "scripts", "firmware", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".c", ".h", ".cpp", ".ino", ".ini", ".toml", ".txt"}
SKIPPED_DIRS = {"build", ".pio", "__pycache__"}
STALE_NAME = "plexus-api" + ".md"  # spelt in two parts so this file does not cite it

HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)
# `§4.2`, `§2.1-2.3` (both ends checked), `§7`; houston's own `CONTRACT §3` is another document.
CITATION = re.compile(r"(?<!CONTRACT )§(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?")
NUMBER = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:e\d+)?")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def sections() -> dict[str, str]:
    """Section number → the text from its heading to the next heading."""
    text = doc_text()
    marks = list(re.finditer(r"^#{1,4} .*$", text, re.MULTILINE))
    found: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        numbered = HEADING.match(mark.group(0) + " ")
        if numbered:
            end = following.start() if following else len(text)
            found[numbered.group(1)] = text[mark.start() : end]
    return found


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            relative = path.relative_to(ROOT)
            if (
                path.is_file()
                and path.suffix in TEXT_SUFFIXES
                and not SKIPPED_DIRS.intersection(relative.parts)
            ):
                yield path


def citations() -> list[tuple[str, int, str]]:
    """Every `(file, line, section)` cited in the scanned files."""
    cited = []
    for path in scanned_files():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            for match in CITATION.finditer(line):
                for section in match.groups():
                    if section is not None:
                        cited.append((str(path.relative_to(ROOT)), number, section))
    return cited


def numbers_in(text: str) -> set[float]:
    """The numbers a passage states, `10 000` and `1e12` included.

    >>> sorted(numbers_in("max **100 000**, 1e12, random(-20, 20)"))
    [-20.0, 20.0, 100000.0, 1000000000000.0]
    """
    return {float(found.replace(" ", "")) for found in NUMBER.findall(text)}


def test_the_document_numbers_each_section_once() -> None:
    numbers = HEADING.findall(doc_text())
    assert len(numbers) == len(set(numbers)), "a section number is used twice"
    # The numbering the code has always cited: §1.1-1.6, §2.1-2.5, §3.1-3.5, §4.1-4.7, §5, §6.1-6.3,
    # §7.1-7.6, §8, §9.
    expected = {str(n) for n in range(10)} | {
        f"{major}.{minor}"
        for major, count in {1: 6, 2: 5, 3: 5, 4: 7, 6: 3, 7: 6}.items()
        for minor in range(1, count + 1)
    }
    assert set(numbers) == expected


def test_the_scan_finds_the_citations_the_code_makes() -> None:
    cited = {(path, section) for path, _, section in citations()}
    # One known citation from each tree the scan covers, so a broken scan cannot pass quietly.
    for known in [
        ("fleetscan/timeutil.py", "4.2"),
        ("fleetscan/sandbox/monitor_schema.py", "2.2"),
        ("tests/test_sandbox_plexus.py", "4.6"),
        ("firmware/README.md", "4.2"),
    ]:
        assert known in cited


def test_every_cited_section_exists() -> None:
    have = sections()
    missing = [
        f"{path}:{line}: §{section}" for path, line, section in citations() if section not in have
    ]
    assert not missing, f"cited sections that {DOC_NAME} does not have: {missing}"


def test_the_document_cites_only_its_own_sections() -> None:
    have = sections()
    cited = [section for pair in CITATION.findall(doc_text()) for section in pair if section]
    assert len(cited) > 20  # the document cross-references itself throughout
    assert [section for section in cited if section not in have] == []


def test_a_file_that_cites_a_section_names_the_document() -> None:
    unnamed = sorted(
        {path for path, _, _ in citations() if DOC_NAME not in (ROOT / path).read_text("utf-8")}
    )
    assert not unnamed, f"these cite `§…` without saying it is {DOC_NAME}: {unnamed}"


def test_nothing_points_at_the_out_of_tree_copy() -> None:
    paths = [*scanned_files(), *sorted((ROOT / "docs").rglob("*.md"))]
    stale = [
        str(path.relative_to(ROOT))
        for path in paths
        if STALE_NAME in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not stale


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("1.1", [keys.KEY_LENGTH, len(keys.KEY_PREFIX) + 32]),
        (
            "1.2",
            [telemetry_query.DEFAULT_LIMIT, telemetry_query.MAX_LIMIT, client.MAX_LIMIT],
        ),
        ("1.6", [telemetry_query.MAX_LIMIT]),
        ("3.3", [alerts.HYSTERESIS_S, alerts.COOLDOWN_S]),
        (
            "4.2",
            [
                ingest.MAX_POINTS,
                ingest.MAX_STRING_BYTES,
                ingest.MAX_EVENT_VALUE_BYTES,
                ingest.MAX_TAGS,
                ingest.MAX_BODY_BYTES / 2**20,  # stated as "5 MiB"
                ingest.SECONDS_CUTOFF,
                timeutil.EPOCH_MS_CUTOFF,
            ],
        ),
        ("7.2", [bound for low_high in reduce.SIMULATED_RANGE.values() for bound in low_high]),
        ("7.2", [part for spec in generate.RANDOM_FALLBACK.values() for part in spec]),
    ],
)
def test_a_section_states_the_numbers_the_code_is_built_on(
    section: str, values: list[float]
) -> None:
    stated = numbers_in(sections()[section])
    assert [value for value in values if float(value) not in stated] == []


def test_the_sections_name_the_literals_the_code_matches() -> None:
    have = sections()
    assert f"`{keys.KEY_PREFIX}`" in have["1.1"]
    assert "307" in have["1.1"] and "/sign-in" in have["1.1"]
    assert "`YYYY-MM-DD HH:MM:SS.mmm`" in have["0"] and "%Y-%m-%d %H:%M:%S.%f" in have["1.4"]
    assert f"`^{ingest.SOURCE_ID_PATTERN.pattern}$`" in have["4.2"]
    assert ingest.INVALID_JSON in have["4.2"]
    for severity in ("info", "warning", "critical"):
        assert f'"{severity}"' in have["2.1"]

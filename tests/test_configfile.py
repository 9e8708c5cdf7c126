"""Config validation: every problem in every file, each with its file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detectors.configfile import ConfigError, Problems, load_yaml, render_path
from detectors.designation_lists import LANGUAGES
from detectors.pipeline import Pipeline
from detectors.policy import SEVERITIES

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config"

TEST_ORGANISATION = """\
  - id: TEST.001
    name: Test Front
    designations: [{{list: Test list, reference: TEST.001, listed_on: 2020-01-01}}]
    aliases:
{aliases}
"""


@pytest.fixture
def config_dir(tmp_path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, directory)
    return directory


def insert_after(path: Path, header: str, lines: str) -> str:
    """Put ``lines`` right after the line ``header`` of ``path``; return the new text."""
    text = path.read_text(encoding="utf-8")
    marker = f"\n{header}\n"
    assert text.count(marker) == 1, f"{path.name} no longer has one {header!r} line"
    text = text.replace(marker, marker + lines, 1)
    path.write_text(text, encoding="utf-8")
    return text


def line_of(text: str, line: str) -> int:
    """1-based number of the one line of ``text`` equal to ``line``."""
    numbers = [number for number, candidate in enumerate(text.splitlines(), start=1) if candidate == line]
    assert len(numbers) == 1, f"{line!r} occurs {len(numbers)} times"
    return numbers[0]


def add_organisation(config_dir: Path, aliases: str) -> tuple[Path, str]:
    path = config_dir / "designations.yaml"
    return path, insert_after(path, "organisations:", TEST_ORGANISATION.format(aliases=aliases.rstrip("\n")))


def problems_of(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Pipeline.from_config_dir(config_dir)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_shipped_config_loads_without_problems():
    pipeline = Pipeline.from_config_dir(SHIPPED_CONFIG)

    assert pipeline.platforms
    assert pipeline.jurisdictions
    assert pipeline.policy.categories
    assert pipeline.detectors[0].organisations


def test_copied_config_loads_without_problems(config_dir):
    # The tests below break exactly one thing in a copy: the copy must start clean.
    Pipeline.from_config_dir(config_dir)


def test_yaml_syntax_error_reports_file_and_line(config_dir):
    path = config_dir / "policy.yaml"
    text = insert_after(path, "categories:", "  broken: review_at: 0.5\n")

    problems = problems_of(config_dir)

    line = line_of(text, "  broken: review_at: 0.5")
    assert problems[0].startswith(f"{path}:{line}: invalid YAML: ")
    assert "mapping values are not allowed" in problems[0]


def test_unclosed_flow_list_reports_file_and_line(config_dir):
    path = config_dir / "platforms.yaml"
    text = insert_after(path, "platforms:", "  testplatform: {name: [Test}\n")

    problems = problems_of(config_dir)

    line = line_of(text, "  testplatform: {name: [Test}")
    assert problems[0].startswith(f"{path}:{line}: invalid YAML: ")


def test_empty_alias_reports_file_line_and_field_path(config_dir):
    path, text = add_organisation(
        config_dir,
        """\
      en:
        - Test Front
        - ''
        - The Test Front
""",
    )

    problems = problems_of(config_dir)

    line = line_of(text, "        - ''")
    assert problems == [f"{path}:{line}: organisations[0].aliases.en[1]: is empty"]


def test_blank_alias_in_flow_list_reports_its_line(config_dir):
    path, text = add_organisation(config_dir, "      ur: [تحریک, '   ']\n      en: [Test Front]\n")

    problems = problems_of(config_dir)

    line = line_of(text, "      ur: [تحریک, '   ']")
    assert problems == [f"{path}:{line}: organisations[0].aliases.ur[1]: is empty"]


def test_unknown_alias_language_is_reported_with_the_languages_allowed(config_dir):
    path, text = add_organisation(config_dir, "      en: [Test Front]\n      fr: [Front de Test]\n")

    problems = problems_of(config_dir)

    line = line_of(text, "      fr: [Front de Test]")
    assert problems == [f"{path}:{line}: organisations[0].aliases.fr: 'fr' is not one of {', '.join(LANGUAGES)}"]


def test_unknown_key_with_block_value_reports_the_key_line(config_dir):
    # The problem is the key: the operator must be sent to "fr:", not to the line below it.
    path, text = add_organisation(config_dir, "      en: [Test Front]\n      fr:\n        - Front de Test\n")

    problems = problems_of(config_dir)

    line = line_of(text, "      fr:")
    assert problems == [f"{path}:{line}: organisations[0].aliases.fr: 'fr' is not one of {', '.join(LANGUAGES)}"]


def test_takedown_below_review_is_reported(config_dir):
    path = config_dir / "policy.yaml"
    text = insert_after(
        path,
        "categories:",
        "  test_category:\n    review_at: 0.6\n    takedown_at: 0.4\n    severity: high\n",
    )

    problems = problems_of(config_dir)

    line = line_of(text, "    takedown_at: 0.4")
    assert problems == [f"{path}:{line}: categories.test_category.takedown_at: 0.4 is below review_at 0.6"]


def test_severity_outside_the_allowed_list_is_reported(config_dir):
    path = config_dir / "policy.yaml"
    text = insert_after(path, "categories:", "  test_category:\n    review_at: 0.5\n    severity: urgent\n")

    problems = problems_of(config_dir)

    line = line_of(text, "    severity: urgent")
    allowed = ", ".join(sorted(SEVERITIES))
    assert problems == [f"{path}:{line}: categories.test_category.severity: 'urgent' is not one of {allowed}"]


def test_severity_given_as_a_list_is_a_problem_not_a_crash(config_dir):
    path = config_dir / "policy.yaml"
    text = insert_after(path, "categories:", "  test_category:\n    review_at: 0.5\n    severity: [high]\n")

    problems = problems_of(config_dir)

    line = line_of(text, "    severity: [high]")
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line}: categories.test_category.severity: ")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "high"])
def test_threshold_outside_zero_to_one_is_reported(config_dir, value):
    path = config_dir / "policy.yaml"
    text = insert_after(path, "categories:", f"  test_category:\n    review_at: {value}\n    severity: high\n")

    problems = problems_of(config_dir)

    line = line_of(text, f"    review_at: {value}")
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line}: categories.test_category.review_at: must be ")


def test_platform_jurisdiction_missing_from_jurisdictions_yaml_is_reported(config_dir):
    path = config_dir / "platforms.yaml"
    text = insert_after(path, "platforms:", "  testplatform: {name: Test, jurisdiction: XX}\n")

    problems = problems_of(config_dir)

    line = line_of(text, "  testplatform: {name: Test, jurisdiction: XX}")
    assert problems == [f"{path}:{line}: platforms.testplatform.jurisdiction: 'XX' is not in jurisdictions.yaml"]


def test_problems_in_two_files_are_reported_together(config_dir):
    policy_path = config_dir / "policy.yaml"
    policy_text = insert_after(policy_path, "categories:", "  test_category:\n    severity: urgent\n")
    platforms_path = config_dir / "platforms.yaml"
    platforms_text = insert_after(platforms_path, "platforms:", "  testplatform: {name: Test, jurisdiction: XX}\n")

    problems = problems_of(config_dir)

    policy_line = line_of(policy_text, "    severity: urgent")
    platforms_line = line_of(platforms_text, "  testplatform: {name: Test, jurisdiction: XX}")
    assert sorted(problems) == sorted(
        [
            f"{policy_path}:{policy_line}: categories.test_category.severity: 'urgent' is not one of "
            + ", ".join(sorted(SEVERITIES)),
            f"{platforms_path}:{platforms_line}: platforms.testplatform.jurisdiction: 'XX' is not in jurisdictions.yaml",
        ]
    )


def test_several_problems_in_one_file_are_all_reported(config_dir):
    english = "      en: ['', Test Front]"
    german = "      de: [Testfront]"
    path, text = add_organisation(config_dir, f"{english}\n{german}\n")

    problems = problems_of(config_dir)

    languages = ", ".join(LANGUAGES)
    assert problems == [
        f"{path}:{line_of(text, english)}: organisations[0].aliases.en[0]: is empty",
        f"{path}:{line_of(text, german)}: organisations[0].aliases.de: 'de' is not one of {languages}",
    ]


def test_missing_required_field_reports_the_parent_line(config_dir):
    path = config_dir / "jurisdictions.yaml"
    entry = "  XX: {name: Testland, legal_basis: Test Act, citation: s.1, categories: [hate]}"
    text = insert_after(path, "jurisdictions:", entry + "\n")

    problems = problems_of(config_dir)

    line = line_of(text, entry)
    assert problems == [f"{path}:{line}: jurisdictions.XX.deadline_hours: is required"]


# -- the building blocks -----------------------------------------------------


@pytest.mark.parametrize(
    "path, rendered",
    [
        ((), "(top level)"),
        (("organisations",), "organisations"),
        (("organisations", 3, "aliases", "en", 0), "organisations[3].aliases.en[0]"),
        ((0, "id"), "[0].id"),
    ],
)
def test_render_path_writes_indexes_in_brackets_and_keys_after_dots(path, rendered):
    assert render_path(path) == rendered


def test_load_yaml_keeps_the_line_of_every_value(tmp_path):
    path = tmp_path / "sample.yaml"
    path.write_text("# comment\ntop:\n  list:\n    - one\n    - two\n  flow: [a, b]\n", encoding="utf-8")
    problems = Problems()

    document = load_yaml(path, problems)

    assert document.data == {"top": {"list": ["one", "two"], "flow": ["a", "b"]}}
    assert document.where(("top", "list", 1)) == f"{path}:5: top.list[1]"
    assert document.where(("top", "flow", 1)) == f"{path}:6: top.flow[1]"
    assert document.where(("top", "flow", 7)) == f"{path}:6: top.flow[7]"
    assert problems.messages == []


def test_unreadable_file_is_a_problem_not_an_exception(tmp_path):
    problems = Problems()

    document = load_yaml(tmp_path / "absent.yaml", problems)

    assert document.data is None
    assert len(problems.messages) == 1
    assert problems.messages[0].startswith(f"{tmp_path / 'absent.yaml'}: cannot be read: ")


def test_raise_if_any_raises_once_with_every_problem():
    problems = Problems()
    problems.raise_if_any()  # nothing collected: no error
    problems.add("a.yaml:1: x: is empty")
    problems.add("b.yaml:2: y: is empty")

    with pytest.raises(ConfigError) as caught:
        problems.raise_if_any()

    assert caught.value.problems == ["a.yaml:1: x: is empty", "b.yaml:2: y: is empty"]


def test_yaml_syntax_error_is_the_only_problem_reported_for_that_file(config_dir):
    (config_dir / "policy.yaml").write_text("categories:\n  hate: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        Pipeline.from_config_dir(config_dir)
    policy_problems = [problem for problem in caught.value.problems if "policy.yaml" in problem]
    assert len(policy_problems) == 1 and "invalid YAML" in policy_problems[0]


def test_self_referencing_yaml_alias_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("x: &a [*a]\n")
    problems = Problems()
    load_yaml(path, problems)
    assert problems.messages and "loop.yaml" in problems.messages[0]

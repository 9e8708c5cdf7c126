"""Hash banks: live changes, bank files, the media hash detector (the PDQ index: tests/test_pdq_index.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from detectors import hashbank
from detectors.configfile import ConfigError, Problems
from detectors.events import Media, Post
from detectors.hashbank import HashBank, load_bank_dir, load_bank_file, make_entry, read_pdq_list
from detectors.hashing import PDQ_CONFIDENT_MATCH_THRESHOLD, ImageHasher, hamming_distance
from detectors.media_hash import HashingConfig, MediaHashDetector, load_hashing_config
from streams.cli.hashes import hash_images, import_hash_list
from tests.conftest import ROOT

DATA = Path(__file__).resolve().parent / "data" / "pdq"
BRIDGE = DATA / "images" / "reg-test-input" / "dih" / "bridge-1-original.jpg"
BRIDGE_ROTATED = DATA / "images" / "reg-test-input" / "dih" / "bridge-2-rotate-90.jpg"
I16 = DATA / "images" / "python-threatexchange-resources" / "I16.png"


# -- The bank ----------------------------------------------------------------------


def test_bank_add_and_remove_are_visible_to_the_next_detect():
    detector = MediaHashDetector(HashBank(), HashingConfig(match_rotations=False))
    posted = Media("image", data=BRIDGE.read_bytes())
    bridge_pdq = detector.hasher.hash_bytes(posted.data).pdq[0].hash
    assert detector.detect([post_with(posted)]) == [[]]
    assert detector.bank.add("pdq", bridge_pdq.upper(), "group-a", "test list") is True
    assert [finding.evidence["label"] for finding in detector.detect([post_with(posted)])[0]] == ["group-a"]
    assert detector.bank.remove("pdq", bridge_pdq) == 1
    assert detector.detect([post_with(posted)]) == [[]]


def test_bank_digest_depends_on_content_not_order_and_version_counts_changes():
    entries = [make_entry("md5", f"{n:032x}", "group-a", "list") for n in range(5)] + [
        make_entry("pdq", f"{n:064x}", "group-b", "list") for n in range(5)
    ]
    forward, backward = HashBank(entries), HashBank(reversed(entries))
    assert forward.digest == backward.digest and len(forward) == 10
    before = (forward.digest, forward.version)
    forward.add("sha256", "f" * 64, "group-c", "list")
    assert forward.digest != before[0] and forward.version == before[1] + 1
    forward.remove("sha256", "F" * 64)
    assert forward.digest == before[0] and forward.version == before[1] + 2
    assert forward.add("md5", "0" * 32, "group-a", "list") is False  # unchanged: no new version
    assert forward.version == before[1] + 2


def test_one_hash_may_carry_entries_of_several_labels():
    bank = HashBank([make_entry("md5", "a" * 32, "group-a", "list 1")])
    bank.add("md5", "a" * 32, "group-b", "list 2")
    bank.add("md5", "a" * 32, "group-a", "list 3")  # replaces group-a's source
    assert sorted((entry.label, entry.source) for entry in bank.exact("md5", "a" * 32)) == [
        ("group-a", "list 3"),
        ("group-b", "list 2"),
    ]
    assert bank.remove("md5", "a" * 32, label="group-b") == 1 and len(bank) == 1


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("sha1", "a" * 40, "l", "s"), "hash_type: 'sha1' is not one of pdq, md5, sha256"),
        (("pdq", "xyz", "l", "s"), "hash: 'xyz' is not a valid pdq hash (64 hex digits)"),
        (("md5", "a" * 32, " ", "s"), "label: ' ' is empty"),
    ],
)
def test_live_add_rejects_bad_fields_quoting_the_value(arguments, message):
    with pytest.raises(ValueError) as raised:
        HashBank().add(*arguments)
    assert str(raised.value) == message


# -- Bank files --------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_bank_rows_are_all_reported_with_file_line_and_field(tmp_path):
    folder = tmp_path / "hashbank"
    folder.mkdir()
    good_pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    write(
        folder,
        "a.csv",
        "hash_type,hash,label,source\n"
        f"pdq,{good_pdq},group-a,list\n"
        "pdq,f8f8zz,group-a,list\n"
        f"pdq,{good_pdq}00,group-a,list\n"
        "sha1,da39a3ee5e6b4b0d3255bfef95601890afd80709,group-a,list\n"
        "md5,d41d8cd98f00b204e9800998ecf8427e,,list\n"
        f"pdq,{good_pdq.upper()},group-a,list\n"
        "md5,d41d8cd98f00b204e9800998ecf8427e,group-a\n",
    )
    write(folder, "b.csv", f"pdq,{good_pdq},group-b,list\n")
    write(folder, "b2.csv", f"hash_type,hash,label,source\npdq,{good_pdq},group-a,another list\n")
    write(folder, "c.csv", "")
    write(folder, "d.csv", "type,hash,label,source,notes\n")
    problems = Problems()
    entries = load_bank_dir(folder, problems)
    assert [entry.hash for entry in entries] == [good_pdq]
    assert problems.messages == [
        f"{folder}/a.csv:3: hash: 'f8f8zz' is not a valid pdq hash (64 hex digits)",
        f"{folder}/a.csv:4: hash: '{good_pdq}00' is not a valid pdq hash (64 hex digits)",
        f"{folder}/a.csv:5: hash_type: 'sha1' is not one of pdq, md5, sha256",
        f"{folder}/a.csv:6: label: '' is empty",
        f"{folder}/a.csv:7: hash: '{good_pdq}' with label 'group-a' repeats {folder}/a.csv:2",
        f"{folder}/a.csv:8: has 3 fields, the header 4: 'md5,d41d8cd98f00b204e9800998ecf8427e,group-a'",
        f"{folder}/b.csv:1: header: is missing (the first line is an entry); expected 'hash_type,hash,label,source'",
        f"{folder}/b2.csv:2: hash: '{good_pdq}' with label 'group-a' repeats {folder}/a.csv:2",
        f"{folder}/c.csv:1: header: the file is empty; expected the header 'hash_type,hash,label,source'",
        f"{folder}/d.csv:1: header: 'type,hash,label,source,notes' lacks hash_type; has unknown column(s) 'type',"
        " 'notes'; expected 'hash_type,hash,label,source'",
    ]


def test_bad_bank_file_stops_startup_with_every_problem(tmp_path):
    (tmp_path / "hashbank").mkdir()
    write(tmp_path / "hashbank", "a.csv", "hash_type,hash,label,source\nmd5,nothex,a,b\nmd5,,a,b\n")
    write(tmp_path, "hashing.yaml", "pdq:\n  match_radius: 31.5\n  match_rotations: sometimes\n")
    problems = Problems()
    MediaHashDetector.from_config(tmp_path, problems)
    with pytest.raises(ConfigError) as raised:
        problems.raise_if_any()
    assert raised.value.problems == [
        f"{tmp_path}/hashing.yaml:2: pdq.match_radius: must be a whole number, not 31.5",
        f"{tmp_path}/hashing.yaml:3: pdq.match_rotations: must be true or false, not 'sometimes'",
        f"{tmp_path}/hashbank/a.csv:2: hash: 'nothex' is not a valid md5 hash (32 hex digits)",
        f"{tmp_path}/hashbank/a.csv:3: hash: '' is not a valid md5 hash (32 hex digits)",
    ]


def test_category_missing_from_the_policy_is_reported(tmp_path):
    write(tmp_path, "hashing.yaml", "categories:\n  default: terrorism_promotion\n  by_label:\n    gifct: terorism\n")
    problems = Problems()
    config = load_hashing_config(tmp_path / "hashing.yaml", problems, frozenset({"terrorism_promotion"}))
    assert problems.messages == [
        f"{tmp_path}/hashing.yaml:4: categories.by_label.gifct: 'terorism' is not a category in config/policy.yaml"
    ]
    assert config.category_of(make_entry("md5", "a" * 32, "other", "s")) == "terrorism_promotion"


def test_shipped_hashing_config_and_example_bank_load_without_problems():
    problems = Problems()
    detector = MediaHashDetector.from_config(ROOT / "config", problems)
    assert problems.messages == []
    assert detector.config.match_radius == 31 and detector.config.min_quality == 50
    assert {entry.source for entry in detector.bank.entries()} == {"modwatch test fixture"}
    # The fixture bank is recorded under a category the policy never acts on.
    [[finding, *_]] = detector.detect([post_with(Media("image", data=BRIDGE.read_bytes()))])
    assert finding.category == "media_hash_test"


# -- Importer and CLI --------------------------------------------------------------


def test_threatexchange_pdq_list_imports_and_bad_lines_are_reported(tmp_path):
    problems = Problems()
    hashes, skipped = read_pdq_list(DATA / "hash-lists" / "needles.txt", problems)
    assert len(hashes) == 100 and skipped == 0 and problems.messages == []
    read_pdq_list(DATA / "hash-lists" / "short64.dat", problems)
    assert len(problems.messages) == 6
    assert problems.messages[0] == (
        f"{DATA}/hash-lists/short64.dat:1: hash: 'b1946ac92492d234' is not a valid pdq hash (64 hex digits)"
    )
    lines = f"{'a' * 64},100,x.jpg\n# comment\n\n{'b' * 64},12,flat.jpg\n{'c' * 64},high\n"
    with_quality = write(tmp_path, "list.txt", lines)
    problems = Problems()
    hashes, skipped = read_pdq_list(with_quality, problems)
    assert (hashes, skipped) == (["a" * 64], 1)
    assert problems.messages == [f"{with_quality}:5: quality: 'high' is not a PDQ quality (0 to 100)"]


def test_hash_import_writes_a_bank_file_that_loads(tmp_path):
    folder = tmp_path / "hashbank"
    folder.mkdir()
    result = CliRunner().invoke(
        import_hash_list,
        [
            str(DATA / "hash-lists" / "needles.txt"),
            "--label",
            "gifct",
            "--source",
            "GIFCT 2026-11",
            "-o",
            str(folder / "gifct.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    problems = Problems()
    entries = load_bank_dir(folder, problems)
    assert problems.messages == [] and len(entries) == 100 and entries[0].label == "gifct"


def test_hash_import_reports_every_bad_line_and_writes_nothing(tmp_path):
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(
        import_hash_list, [str(DATA / "hash-lists" / "short64.dat"), "--label", "x", "--source", "y", "-o", str(output)]
    )
    assert result.exit_code == 2 and not output.exists()
    assert result.output.count("is not a valid pdq hash") == 6


def test_hash_command_prints_pdq_quality_md5_sha256_and_dihedral_hashes():
    result = CliRunner().invoke(hash_images, ["--dihedral", str(BRIDGE)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == str(BRIDGE)
    assert "  pdq      f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22" in lines
    assert "  quality  100" in lines
    assert "  md5      d35c785545392755e7e4164457657269" in lines
    assert "  sha256   b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298" in lines
    assert sum(line.startswith(("  rotate", "  flip", "  original")) for line in lines) == 8


def test_hash_command_reports_unreadable_files_and_exits_1(tmp_path):
    junk = write(tmp_path, "junk.jpg", "not an image")
    result = CliRunner().invoke(hash_images, ["--json", str(junk), str(BRIDGE)])
    assert result.exit_code == 1
    assert f"modwatch hash: {junk}: is not an image in a supported format" in result.output
    assert '"pdq":"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"' in result.output


# -- Detector ------------------------------------------------------------------------


def post_with(*media: Media) -> Post:
    return Post("x", "p-1", "acct-1", datetime(2026, 11, 29, tzinfo=UTC), media=tuple(media))


def test_exact_md5_match_scores_1_even_for_a_video_without_data():
    bank = HashBank([make_entry("md5", "d41d8cd98f00b204e9800998ecf8427e", "group-a", "list")])
    [[finding]] = MediaHashDetector(bank).detect([post_with(Media("video", md5="d41d8cd98f00b204e9800998ecf8427e"))])
    assert (finding.detector, finding.category, finding.score) == ("media_hash", "terrorism_promotion", 1.0)
    assert finding.evidence["hash_type"] == "md5" and finding.evidence["distance"] == 0


def test_near_duplicate_within_31_bits_is_a_match_scoring_at_least_the_takedown_threshold():
    banked = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    near = f"{int(banked, 16) ^ ((1 << 31) - 1):064x}"  # 31 bits flipped
    far = f"{int(banked, 16) ^ ((1 << 32) - 1):064x}"
    assert hamming_distance(banked, near) == 31
    detector = MediaHashDetector(HashBank([make_entry("pdq", banked, "group-a", "list")]))
    posts = [post_with(Media("image", pdq=near)), post_with(Media("image", pdq=far))]
    [[finding], no_findings] = detector.detect(posts)
    assert no_findings == []
    assert finding.score == pytest.approx(1 - 31 / 256) and finding.score >= 0.8
    assert finding.evidence["quality"] is None  # the producer's hash: no quality to check


def test_low_quality_pdq_is_not_matched():
    detector = MediaHashDetector(HashBank())
    hashes = detector.hasher.hash_bytes(I16.read_bytes())
    assert hashes.quality == 36
    detector.bank.add("pdq", hashes.pdq[0].hash, "group-a", "list")
    assert detector.detect([post_with(Media("image", data=I16.read_bytes()))]) == [[]]
    assert detector.last_counts["low_quality"] == 1


def test_rotated_copy_matches_through_dihedral_hashes_unless_switched_off():
    bridge = ImageHasher(unletterbox_tolerance=None).hash_bytes(BRIDGE.read_bytes()).pdq[0].hash
    bank = HashBank([make_entry("pdq", bridge, "group-a", "list")])
    rotated = post_with(Media("image", data=BRIDGE_ROTATED.read_bytes()))
    [[finding]] = MediaHashDetector(bank).detect([rotated])
    assert finding.evidence["transform"] != "original" and finding.evidence["distance"] <= PDQ_CONFIDENT_MATCH_THRESHOLD
    assert MediaHashDetector(bank, HashingConfig(match_rotations=False)).detect([rotated]) == [[]]


def test_one_finding_per_media_and_category_with_the_nearest_entry():
    # Hashed as the detector hashes it: the 1600 px JPEG decodes at the default draft side.
    from detectors.hashing import JPEG_DRAFT_SIDE

    bridge = ImageHasher(unletterbox_tolerance=None, jpeg_draft_side=JPEG_DRAFT_SIDE).hash_bytes(BRIDGE.read_bytes())
    bank = HashBank(
        [
            make_entry("pdq", bridge.pdq[0].hash, "group-a", "list"),
            make_entry("md5", bridge.md5, "group-b", "list"),
            make_entry("pdq", f"{int(bridge.pdq[0].hash, 16) ^ 0b111:064x}", "campaign-x", "list"),
        ]
    )
    config = HashingConfig(label_categories={"campaign-x": "violent_threat"})
    [findings] = MediaHashDetector(bank, config).detect([post_with(Media("image", data=BRIDGE.read_bytes()))])
    by_category = {finding.category: finding for finding in findings}
    assert set(by_category) == {"terrorism_promotion", "violent_threat"}
    assert by_category["terrorism_promotion"].evidence["hash_type"] == "md5"  # exact beats distance 0
    assert by_category["terrorism_promotion"].evidence["matches"] == 2
    assert by_category["violent_threat"].evidence["distance"] == 3


def test_malformed_hashes_on_a_post_built_without_the_parser_are_ignored():
    bank = HashBank([make_entry("md5", "a" * 32, "group-a", "list")])
    post = post_with(Media("image", md5="A" * 32, pdq="not hex"), Media("image", sha256="zz"))
    [[finding]] = MediaHashDetector(bank).detect([post])
    assert finding.evidence["hash"] == "a" * 32


def _careful(folder: Path) -> tuple[list, list[str]]:
    problems, seen, entries = Problems(), {}, []
    for path in sorted(folder.glob("*.csv")):
        entries.extend(load_bank_file(path, problems, seen))
    return entries, list(problems.messages)


@pytest.mark.parametrize(
    ("second_file", "clean"),
    [
        ("hash_type,hash,label,source\nmd5,{md5},group-b,list 2\n\nsha256,{sha},group-a,list 2\n", True),
        ("label,source,hash,hash_type\ngroup-c,list 3,{md5},md5\n", True),  # columns in another order
        ("hash_type,hash,label,source\nMD5, {md5} ,group-b,list 2\n", False),  # case and spaces to fix
        ("hash_type,hash,label,source\npdq,{pdq},group-a,list 2\n", False),  # repeats the first file's entry
        ("hash_type,hash,label,source\nmd5,{md5},group-b\n", False),  # a field short
    ],
)
def test_a_folder_read_a_column_at_a_time_gives_what_reading_row_by_row_gives(
    tmp_path, monkeypatch, second_file, clean
):
    pdq, md5, sha = "ab" * 32, "cd" * 16, "ef" * 32
    (tmp_path / "a.csv").write_text(f"hash_type,hash,label,source\npdq,{pdq},group-a,list 1\n")
    (tmp_path / "b.csv").write_text(second_file.format(pdq=pdq, md5=md5, sha=sha))
    entries, expected_problems = _careful(tmp_path)
    if clean:  # a clean folder never needs the row-by-row reading
        monkeypatch.setattr(hashbank, "load_bank_file", lambda *arguments: pytest.fail("read row by row"))
    problems = Problems()
    assert load_bank_dir(tmp_path, problems) == entries
    assert problems.messages == expected_problems
    assert bool(expected_problems) == (not clean and "MD5" not in second_file)

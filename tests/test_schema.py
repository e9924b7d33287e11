"""Schema files: validation with locations, versions (hashes), items, gold, open schemas."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labelloop.errors import InvalidInput, SchemaError
from labelloop.schema import (
    LabelDef,
    MultiLabelSchema,
    Problem,
    Schema,
    SingleLabelSchema,
    load_schema,
    open_schema,
    parse_schema_text,
    schema_from_dict,
    validate_schema_text,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "schemas"

GOOD = """\
name: sms-spam
version: "1.2"
task: single_label
inputs:
  - name: text
    type: text
    required: true
  - name: score
    type: number
    required: false
labels:
  - name: spam
    description: Unsolicited commercial or fraudulent message.
  - name: ham
    description: Anything else.
instructions: |
  Pick one label.
examples:
  - input: {text: "WIN a FREE iPhone, reply YES"}
    label: spam
    rationale: Prize bait asking for a reply.
    edge_case: false
  - id: shipped
    input: {text: "Your Amazon order #123 has shipped"}
    label: ham
    rationale: Transactional, solicited.
    edge_case: true
"""

MULTI = """\
name: topics
version: "3"
task: multi_label
min_labels: 1
max_labels: 2
labels:
  - {name: politics, description: Government and elections.}
  - {name: tech, description: Technology.}
  - {name: sport, description: Sport.}
examples:
  - input: {text: "AI bill passes"}
    labels: [tech, politics]
    rationale: Legislation about technology.
"""


def problems_of(text: str) -> list[Problem]:
    return validate_schema_text(textwrap.dedent(text), source="s.yaml")


def by_line(problems: list[Problem]) -> dict[int | None, list[str]]:
    out: dict[int | None, list[str]] = {}
    for p in problems:
        out.setdefault(p.line, []).append(f"{p.location}: {p.message}")
    return out


# -- example files ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sms_spam.yaml", "news_topics.yaml"])
def test_example_files_validate(name: str) -> None:
    schema = load_schema(EXAMPLES / name)
    assert len(schema.label_space) >= 2
    assert schema.examples_as_gold()
    assert validate_schema_text((EXAMPLES / name).read_text()) == []


def test_good_file_loads() -> None:
    schema = parse_schema_text(GOOD)
    assert isinstance(schema, SingleLabelSchema)
    assert schema.version == "1.2"
    assert schema.label_space.labels == ("spam", "ham")  # file order
    assert schema.instructions == "Pick one label."
    assert not schema.is_open
    assert schema.check_label("ham") == "ham"


# -- every problem, with its line -----------------------------------------------------------

BAD = """\
name: bad
task: single_label
inputs:
  - name: text
    type: text
lables: oops
labels:
  - name: spam
    description: Spam.
  - name: ham
    description: Ham.
  - name: spam
    description: Again.
examples:
  - input: {text: "hi"}
    label: spma
    rationale: x
  - input: {txt: "hi"}
    label: ham
    rationale: ""
    edge_case: yes
  - input: {text: 42}
    label: ham
    rationale: Numbers are not text.
"""


def test_bad_file_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    problems = validate_schema_text(BAD, source=str(path))
    assert info.value.problems == [str(p) for p in problems]
    expected = [
        (1, "", "missing required key 'version'"),
        (6, "lables", "unknown key 'lables'; did you mean 'labels'?"),
        (12, "labels[2].name", "duplicate label 'spam' (first at labels[0])"),
        (16, "examples[0].label", "label 'spma' is not in the label set ['spam', 'ham']"),
        (18, "examples[1].input.txt", "unknown input field 'txt'; did you mean 'text'?"),
        (18, "examples[1].input", "input field 'text': missing required field"),
        (20, "examples[1].rationale", "expected a non-empty string, saw an empty string"),
        (21, "examples[1].edge_case", "expected true or false, saw 'yes'"),
        (22, "examples[2].input.text", "expected a non-empty string, saw 42"),
    ]
    for line, location, message in expected:
        hits = [p for p in problems if p.line == line and p.location == location]
        assert hits, f"no problem at line {line} {location}: {by_line(problems)}"
        assert any(message in p.message for p in hits), (message, hits)
    assert len(problems) == len(expected)
    assert str(problems[2]) == (
        f"{path}:12:11: labels[2].name: duplicate label 'spam' (first at labels[0])"
    )
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


def test_yaml_syntax_error_has_line_and_column() -> None:
    [p] = problems_of("name: x\nlabels:\n  - name: [a\n    description: b\n")
    assert p.line is not None and p.line >= 3
    assert p.column is not None
    assert "YAML syntax error" in p.message
    [tab] = problems_of("name: x\n\tversion: 1\n")
    assert tab.line == 2


def test_structural_problems() -> None:
    [empty] = problems_of("")
    assert "empty" in empty.message
    [top] = problems_of("- a\n- b\n")
    assert "top level" in top.message and top.line == 1
    dup = problems_of(GOOD + "labels: []\n")
    assert any("duplicate key 'labels' (first at line 11)" in p.message for p in dup)
    [shorthand, _] = problems_of("name: x\nversion: '1'\ntask: single_label\nlabels: [spam, ham]\n")
    assert shorthand.location == "labels[0]"
    assert "expected a mapping with keys name, description, saw 'spam'" in shorthand.message
    assert shorthand.line == 4


def test_task_not_supported_yet_and_unknown_task() -> None:
    problems = problems_of("name: x\nversion: '1'\ntask: spans\nlabels: []\n")
    assert [(p.line, p.message) for p in problems] == [
        (3, "task 'spans' is not supported yet; supported now: single_label, multi_label")
    ]
    problems = problems_of("name: x\nversion: '1'\ntask: multi_lable\n")
    [task] = [p for p in problems if p.location == "task"]
    assert task.line == 3 and "did you mean 'multi_label'?" in task.message
    assert any(p.message == "missing required key 'labels'" for p in problems)
    assert any("missing required key 'task'" in p.message for p in problems_of("name: x\n"))


def test_empty_or_single_label_set_and_missing_description() -> None:
    head = "name: x\nversion: '1'\ntask: single_label\n"
    [p] = problems_of(head + "labels: []\n")
    assert "needs at least 2 label(s), saw 0" in p.message and p.line == 4
    [p] = problems_of(head + "labels:\n  - name: a\n    description: A.\n")
    assert "saw 1 ('a')" in p.message
    problems = problems_of(head + "labels:\n  - name: a\n    description: ''\n  - name: b\n")
    assert [(p.line, p.location) for p in problems] == [
        (6, "labels[0].description"),
        (7, "labels[1]"),
    ]
    assert problems[1].message == "missing required key 'description'"


def test_unknown_keys_suggest_at_every_level() -> None:
    text = GOOD.replace("instructions:", "instructons:").replace(
        "edge_case: true", "edgecase: true"
    )
    text = text.replace("    required: false", "    requird: false")
    found = {(p.location, p.message) for p in problems_of(text)}
    assert ("instructons", "unknown key 'instructons'; did you mean 'instructions'?") in found
    assert ("examples[1].edgecase", "unknown key 'edgecase'; did you mean 'edge_case'?") in found
    assert ("inputs[1].requird", "unknown key 'requird'; did you mean 'required'?") in found
    far = problems_of(GOOD + "zzzz: 1\n")
    assert "expected one of: task, name, version" in far[0].message
    is_open = problems_of(GOOD + "is_open: true\n")
    assert is_open[0].location == "is_open"


def test_example_shape_matches_task() -> None:
    wrong = MULTI.replace("labels: [tech, politics]", "label: tech")
    found = {(p.location, p.message) for p in problems_of(wrong)}
    assert ("examples[0].label", "unknown key 'label'; did you mean 'labels'?") in found
    assert ("examples[0]", "missing required key 'labels'") in found


# -- YAML 1.2 scalars -----------------------------------------------------------------------


def test_yaml12_scalars_no_norway_problem() -> None:
    text = """\
    name: yn
    version: 1.10
    task: single_label
    labels:
      - {name: yes, description: Agrees.}
      - {name: no, description: Disagrees.}
      - {name: 3, description: A number name.}
    examples:
      - input: {text: 12:30, code: 012, when: 2024-05-01}
        label: no
        rationale: Off-topic.
    """
    schema = parse_schema_text(textwrap.dedent(text))
    assert schema.version == "1.10"
    assert schema.label_space.labels == ("yes", "no", "3")
    [gold] = schema.examples_as_gold()
    assert gold.data == {"text": "12:30", "code": 12, "when": "2024-05-01"}
    assert gold.label == "no"


# -- hashes and versions --------------------------------------------------------------------


def test_hash_ignores_formatting_comments_and_explicit_defaults() -> None:
    base = parse_schema_text(GOOD)
    reformatted = """\
    # a comment
    task: single_label   # trailing comment
    version: '1.2'
    name: "sms-spam"
    labels: [{description: "Unsolicited commercial or fraudulent message.  ", name: spam},
             {name: ham, description: Anything else.}]
    inputs:
      - {name: text}
      - {type: number, name: score, required: false, description: ""}
    instructions: "Pick one label."
    examples:
      - {label: spam, input: {text: "WIN a FREE iPhone, reply YES"},
         rationale: Prize bait asking for a reply.}
      - rationale: >-
          Transactional,
          solicited.
        edge_case: true
        label: ham
        id: shipped
        input:
          text: "Your Amazon order #123 has shipped"
    """
    other = parse_schema_text(textwrap.dedent(reformatted))
    assert other.content_hash == base.content_hash
    assert other == base
    assert base.content_hash == hashlib.sha256(base.canonical_json().encode()).hexdigest()
    assert json.loads(base.canonical_json()) == base.to_dict()
    assert base.short_hash == base.content_hash[:12]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("description: Anything else.", "description: Anything else, really."),
        ('version: "1.2"', 'version: "1.3"'),
        ("Pick one label.", "Pick exactly one label."),
        ("rationale: Transactional, solicited.", "rationale: Solicited."),
        ("edge_case: true", "edge_case: false"),
        ("type: number", "type: json"),
    ],
)
def test_changes_of_meaning_change_the_hash(old: str, new: str) -> None:
    assert old in GOOD
    assert (
        parse_schema_text(GOOD.replace(old, new)).content_hash
        != parse_schema_text(GOOD).content_hash
    )


def test_label_order_is_meaningful() -> None:
    swapped = GOOD.replace(
        "  - name: spam\n    description: Unsolicited commercial or fraudulent message.\n"
        "  - name: ham\n    description: Anything else.\n",
        "  - name: ham\n    description: Anything else.\n"
        "  - name: spam\n    description: Unsolicited commercial or fraudulent message.\n",
    )
    schema = parse_schema_text(swapped)
    assert schema.label_space.labels == ("ham", "spam")
    assert schema.content_hash != parse_schema_text(GOOD).content_hash


def test_to_dict_round_trip_and_task_in_hash() -> None:
    for text in (GOOD, MULTI):
        schema = parse_schema_text(text)
        again = schema_from_dict(json.loads(schema.canonical_json()))
        assert type(again) is type(schema)
        assert again.content_hash == schema.content_hash
    single = SingleLabelSchema(
        name="x",
        version="1",
        labels=(LabelDef(name="a", description="A."), LabelDef(name="b", description="B.")),
    )
    multi = MultiLabelSchema(name="x", version="1", labels=single.labels)
    assert single.to_dict()["task"] == "single_label"
    assert single.content_hash != multi.content_hash
    with pytest.raises(SchemaError, match="not supported yet"):
        schema_from_dict({**single.to_dict(), "task": "ranking"})


def test_direct_construction_runs_the_same_checks() -> None:
    with pytest.raises(ValidationError, match="duplicate label 'a'"):
        SingleLabelSchema(
            name="x",
            version="1",
            labels=(LabelDef(name="a", description="A."), LabelDef(name="a", description="B.")),
        )


LABEL = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# NEL/LS/PS are YAML 1.1 line breaks that PyYAML's emitter writes raw and its reader folds
TEXT = st.text(
    alphabet=st.characters(exclude_characters="\x85\u2028\u2029", exclude_categories=["Cs"]),
    min_size=1,
    max_size=30,
).filter(str.strip)


def _shuffled(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, dict):
        keys = data.draw(st.permutations(list(value)))
        return {k: _shuffled(value[k], data) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, data) for v in value]
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.lists(LABEL, min_size=2, max_size=5, unique=True),
    descriptions=st.lists(TEXT, min_size=5, max_size=5),
    flow=st.sampled_from([None, True, False]),
    comment=st.booleans(),
    data=st.data(),
)
def test_hash_stable_under_key_order_and_style(
    labels: list[str],
    descriptions: list[str],
    flow: bool | None,
    comment: bool,
    data: st.DataObject,
) -> None:
    doc = {
        "name": "prop",
        "version": "7",
        "task": "single_label",
        "instructions": descriptions[0],
        "labels": [
            {"name": n, "description": d} for n, d in zip(labels, descriptions, strict=False)
        ],
        "examples": [
            {"input": {"text": descriptions[1]}, "label": labels[0], "rationale": descriptions[2]}
        ],
    }
    reference = parse_schema_text(yaml.safe_dump(doc, sort_keys=False))
    text = yaml.safe_dump(
        _shuffled(doc, data), sort_keys=False, default_flow_style=flow, allow_unicode=True
    )
    if comment:
        text = f"# generated\n{text}\n# end of file\n"
    again = parse_schema_text(text)
    assert again.content_hash == reference.content_hash
    assert again.label_space.labels == tuple(labels)


# -- multi-label rules ----------------------------------------------------------------------


def test_multi_label_rules() -> None:
    schema = parse_schema_text(MULTI)
    assert isinstance(schema, MultiLabelSchema)
    assert (schema.min_labels, schema.max_labels) == (1, 2)
    assert schema.check_labels(["sport", "politics"]) == ("politics", "sport")  # schema order
    with pytest.raises(InvalidInput, match="at most 2"):
        schema.check_labels(["sport", "politics", "tech"])
    with pytest.raises(InvalidInput, match="at least 1"):
        schema.check_labels([])
    with pytest.raises(InvalidInput, match="more than once"):
        schema.check_labels(["tech", "tech"])
    with pytest.raises(InvalidInput, match="did you mean 'sport'"):
        schema.check_labels(["sprot"])
    [gold] = schema.examples_as_gold()
    assert gold.label is None and gold.labels == ("politics", "tech")

    bad = (
        MULTI.replace("min_labels: 1", "min_labels: 3")
        .replace("max_labels: 2", "max_labels: 5")
        .replace("[tech, politics]", "[tech, tech, poltics]")
    )
    found = {(p.line, p.location, p.message) for p in problems_of(bad)}
    assert (5, "max_labels", "max_labels is 5 but the schema has only 3 label(s)") in found
    assert (12, "examples[0].labels[1]", "label 'tech' is listed twice") in found
    assert any(
        loc == "examples[0].labels[2]" and "did you mean 'politics'" in m for _, loc, m in found
    )
    assert len(found) == 3
    swapped = problems_of(
        MULTI.replace("min_labels: 1", "min_labels: 2").replace("max_labels: 2", "max_labels: 1")
    )
    assert any(p.message == "max_labels (1) is below min_labels (2)" for p in swapped)
    few = problems_of(MULTI.replace("[tech, politics]", "[]"))
    assert [(p.location, p.message) for p in few] == [
        ("examples[0].labels", "expected at least 1 label(s) (min_labels), saw 0")
    ]
    [scalar] = problems_of(MULTI.replace("[tech, politics]", "tech"))
    assert "expected a list of label names, saw 'tech' (write [tech])" in scalar.message
    [neg] = problems_of(MULTI.replace("min_labels: 1", "min_labels: -1"))
    assert neg.location == "min_labels" and "saw -1" in neg.message


def test_multi_label_defaults_allow_none_apply() -> None:
    schema = parse_schema_text(MULTI.replace("min_labels: 1\nmax_labels: 2\n", ""))
    assert isinstance(schema, MultiLabelSchema)
    assert schema.check_labels([]) == ()
    assert schema.check_labels(["sport", "tech", "politics"]) == ("politics", "tech", "sport")


# -- items ----------------------------------------------------------------------------------

TYPED = """\
name: typed
version: "1"
task: single_label
inputs:
  - {name: text, type: text}
  - {name: n, type: number}
  - {name: flag, type: boolean}
  - {name: link, type: url}
  - {name: img, type: image_url, required: false}
  - {name: meta, type: json, required: false}
labels:
  - {name: a, description: A.}
  - {name: b, description: B.}
"""


def test_check_item_messages() -> None:
    schema = parse_schema_text(TYPED)
    ok = {"text": "hello", "n": 2.5, "flag": False, "link": "https://x.org/a", "extra": object()}
    assert schema.check_item(ok) == []
    assert schema.check_item({**ok, "img": "data:image/png;base64,AAAA", "meta": {"k": [1]}}) == []
    assert schema.check_item({**ok, "img": "s3://bucket/key.png", "meta": None}) == []
    assert dict(schema.check_item({"text": None, "n": True, "flag": "true", "link": "x.org"})) == {
        "text": "expected a non-empty string, saw null",
        "n": "expected a number, saw true",
        "flag": "expected true or false, saw 'true'",
        "link": "expected an http(s), s3 or gs URL, saw 'x.org'",
    }
    assert schema.check_item({"text": "hi", "n": 1, "flag": True}) == [
        ("link", "missing required field (expected an http(s), s3 or gs URL)")
    ]
    assert dict(
        schema.check_item({**ok, "n": float("nan"), "img": "ftp://x/y", "meta": {1, 2}})
    ) == {
        "n": "expected a finite number, saw nan",
        "img": "expected an http(s), s3 or gs URL or a data:image/ URL, saw 'ftp://x/y'",
        "meta": "expected a JSON value (string, number, boolean, null, list, mapping; no NaN/Infinity), saw a set",
    }
    assert schema.check_item(["not", "a", "mapping"]) == [  # type: ignore[arg-type]
        ("", "expected a mapping of field names to values, saw a list")
    ]


def test_check_item_from_text_cells() -> None:
    schema = parse_schema_text(TYPED)
    row = {
        "text": "hi",
        "n": "3",
        "flag": "Yes",
        "link": "http://a.b",
        "img": "",
        "meta": '{"a": 1}',
    }
    assert schema.check_item(row, from_text=True) == []
    assert schema.coerce_item(row, from_text=True) == {
        "text": "hi",
        "n": 3,
        "flag": True,
        "link": "http://a.b",
        "img": None,
        "meta": {"a": 1},
    }
    assert dict(schema.check_item({**row, "n": "three", "meta": "{bad"}, from_text=True)) == {
        "n": "expected a number, saw 'three'",
        "meta": "expected JSON text, saw '{bad' (Expecting property name enclosed in double quotes)",
    }
    with pytest.raises(InvalidInput, match="n: expected a number, saw 'three'"):
        schema.coerce_item({**row, "n": "three"}, from_text=True)


def test_example_inputs_are_checked_against_inputs() -> None:
    text = TYPED + textwrap.dedent(
        """\
        examples:
          - input: {text: hi, n: one, flag: true, link: "https://a.b"}
            label: a
            rationale: r
          - input: {text: hi, n: 1, flag: true, link: "https://a.b"}
            label: b
            rationale: r
          - input: {text: hi, n: 1, flag: true, link: "https://a.b"}
            label: a
            rationale: contradicts the one above
        """
    )
    found = {(p.line, p.location, p.message) for p in problems_of(text)}
    assert found == {
        (15, "examples[0].input.n", "expected a number, saw 'one'"),
        (
            21,
            "examples[2].input",
            "same input as examples[1]; each worked example needs its own input",
        ),
    }


# -- gold -----------------------------------------------------------------------------------


def test_examples_become_calibration_gold() -> None:
    schema = parse_schema_text(GOOD)
    first, second = schema.examples_as_gold()
    assert second.example_id == "shipped"
    assert first.example_id.startswith("ex-") and len(first.example_id) == 19
    assert first.data == {"text": "WIN a FREE iPhone, reply YES"}
    assert (first.label, first.labels, first.edge_case) == ("spam", ("spam",), False)
    assert (second.label, second.edge_case, second.rationale) == (
        "ham",
        True,
        "Transactional, solicited.",
    )
    assert all(g.calibration for g in (first, second))
    assert (first.position, second.position) == (0, 1)
    assert first.schema_hash == schema.content_hash and first.schema_version == "1.2"
    first.data["text"] = "mutated"
    assert schema.examples_as_gold()[0].data["text"] == "WIN a FREE iPhone, reply YES"
    # the default id follows the input, not the label or rationale
    relabelled = parse_schema_text(GOOD.replace("Prize bait asking for a reply.", "Bait."))
    assert relabelled.examples_as_gold()[0].example_id == first.example_id
    dup = problems_of(
        GOOD.replace('  - input: {text: "WIN', '  - id: shipped\n    input: {text: "WIN')
    )
    assert any(p.message == "duplicate example id 'shipped' (first at examples[0])" for p in dup)


# -- open schema ----------------------------------------------------------------------------


def test_open_schema() -> None:
    schema = open_schema(["spam", "ham", "spam", "10", "9"])
    assert isinstance(schema, Schema)
    assert schema.is_open and schema.task == "single_label" and schema.inputs == ()
    assert schema.label_space.labels == ("9", "10", "ham", "spam")
    assert schema.version == "open-4"
    assert schema.check_item({"anything": None}) == []
    assert open_schema(["ham", "spam", "9", "10"]).content_hash == schema.content_hash
    assert open_schema(["ham", "spam", "9", "10"]) == schema  # cached hash doesn't affect ==
    with pytest.raises(InvalidInput, match="not in schema 'open' version open-4"):
        schema.check_label("eggs")

    bigger = schema.extended(["eggs", "spam"])
    assert bigger.content_hash != schema.content_hash
    assert bigger.label_space.labels == ("9", "10", "eggs", "ham", "spam")
    assert bigger.version == "open-5" and bigger.check_label("eggs") == "eggs"
    assert schema.extended(["ham"]) is schema
    assert open_schema([]).version == "open-0"
    assert schema_from_dict(bigger.to_dict()).content_hash == bigger.content_hash

    named = open_schema(["a"], name="crowd", version="open-7")
    assert (named.name, named.version) == ("crowd", "open-7")
    assert named.content_hash != open_schema(["a"]).content_hash

    from_file = parse_schema_text(GOOD)
    assert from_file.content_hash != open_schema(["spam", "ham"]).content_hash
    with pytest.raises(InvalidInput, match="applying a new file"):
        from_file.extended(["eggs"])  # type: ignore[attr-defined]


def test_load_schema_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="file not found"):
        load_schema(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: x\n\xff\xfe\n")
    with pytest.raises(SchemaError, match=r"bin\.yaml:2: expected UTF-8 text"):
        load_schema(binary)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_schema(bom).content_hash == parse_schema_text(GOOD).content_hash


def test_numeric_looking_text_fields_keep_their_text() -> None:
    text = (
        "name: n\nversion: 1.10\ntask: single_label\ndescription: 2024\ninstructions: 1e3\n"
        "labels:\n  - name: 0\n    description: 0E0\n  - name: 1\n    description: 42\n"
        "examples:\n  - input: {text: x}\n    label: 1\n    rationale: 3.50\n"
    )
    schema = parse_schema_text(text)
    assert (schema.version, schema.description, schema.instructions) == ("1.10", "2024", "1e3")
    assert [(x.name, x.description) for x in schema.labels] == [("0", "0E0"), ("1", "42")]
    assert schema.examples[0].rationale == "3.50"

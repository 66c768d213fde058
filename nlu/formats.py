"""Read and write NLU training data: Rasa NLU YAML and CSV (`text,intent`).

Pure Python (no Django), so the management commands, the admin and the benchmark share one parser,
and it can be tested without a database. Parsing is all or nothing: every problem found is collected
with its line number into one `NluFormatError`; a file with any error yields no data at all.

Rasa YAML accepted (the subset Rasa's own NLU files use):

    version: "3.1"
    nlu:
    - intent: check_balance
      examples: |
        - how much money is in my [checking](account) account
        - what's my balance
    - synonym: New York
      examples: |
        - NYC
    - lookup: city
      examples: |
        - Paris
    - regex: account_number
      examples: |
        - \\d{10,12}

Entity annotations in examples (`[text](entity)`, `[text]{"entity": ...}`) are reduced to their
text: intent classification trains on what visitors type. `examples` may also be a YAML list of
strings or of `{text: ...}` mappings (Rasa's newer form).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

NluFileFormat = Literal["yaml", "csv"]

# Mirrors the model validators (bots.models); checked here so a bad file fails with line numbers
# instead of a database error halfway through an import.
INTENT_NAME_RE = re.compile(r"^[\w.\-:/]+$")
ENTITY_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_INTENT_NAME = 120
MAX_ENTITY_NAME = 80
MAX_TEXT = 1000
MAX_ENTITY_VALUE = 200
MAX_PATTERN = 500

# [text](entity) or [text](entity:value) or [text]{"entity": ...}; the bracketed text is kept.
_ANNOTATION = re.compile(r"\[([^\[\]]+)\](?:\([^()]*\)|\{[^{}]*\})")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class NluFormatError(ValueError):
    """The file cannot be imported. `errors` holds every problem found, as (line, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(f"line {line}: {message}" for line, message in self.errors))


@dataclass(slots=True)
class NluData:
    """Parsed NLU data; dicts keep file order."""

    intents: dict[str, list[str]] = field(default_factory=dict)  # intent -> example texts
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # canonical value -> synonyms
    lookups: dict[str, list[str]] = field(default_factory=dict)  # entity name -> values
    regexes: dict[str, list[str]] = field(default_factory=dict)  # entity name -> patterns
    warnings: list[tuple[int, str]] = field(default_factory=list)

    @property
    def example_count(self) -> int:
        return sum(len(texts) for texts in self.intents.values())

    def examples(self) -> list[tuple[str, str]]:
        return [(text, intent) for intent, texts in self.intents.items() for text in texts]


def format_for_path(path: str | Path) -> NluFileFormat:
    suffix = Path(path).suffix.lower()
    if suffix in (".yml", ".yaml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise NluFormatError([(0, f"unknown file type {suffix!r}: use .yml, .yaml or .csv")])


def parse_nlu(content: str, fmt: NluFileFormat) -> NluData:
    if fmt == "yaml":
        return parse_rasa_yaml(content)
    if fmt == "csv":
        return parse_csv(content)
    raise ValueError(f"unknown NLU format {fmt!r}")


def write_nlu(data: NluData, fmt: NluFileFormat) -> str:
    if fmt == "yaml":
        return write_rasa_yaml(data)
    if fmt == "csv":
        return write_csv(data)
    raise ValueError(f"unknown NLU format {fmt!r}")


# --- shared validation -------------------------------------------------------------------------


def clean_text(raw: str) -> str:
    """One line, single-spaced, without entity markup: the form stored as a training phrase."""
    text = _ANNOTATION.sub(r"\1", raw)
    text = _CONTROL_CHARS.sub(" ", text)
    return " ".join(text.split())


class _Collector:
    """Accumulates data and (line, message) problems while a file is read."""

    def __init__(self) -> None:
        self.data = NluData()
        self.errors: list[tuple[int, str]] = []
        self._seen_examples: dict[tuple[str, str], int] = {}

    def error(self, line: int, message: str) -> None:
        self.errors.append((line, message))

    def add_example(self, line: int, intent: str, raw_text: str) -> None:
        text = clean_text(raw_text)
        if not text:
            self.error(line, "empty example text")
            return
        if len(text) > MAX_TEXT:
            self.error(line, f"example longer than {MAX_TEXT} characters")
            return
        first_line = self._seen_examples.setdefault((intent, text.casefold()), line)
        if first_line != line:
            # The database keeps one copy per intent; a repeat is harmless, so warn instead of failing.
            self.data.warnings.append((line, f"duplicate example for intent {intent!r} (first on line {first_line})"))
            return
        self.data.intents.setdefault(intent, []).append(text)

    def check_intent_name(self, line: int, name: str) -> bool:
        if not name:
            self.error(line, "empty intent name")
            return False
        if len(name) > MAX_INTENT_NAME or not INTENT_NAME_RE.match(name):
            self.error(line, f"bad intent name {name!r}: up to {MAX_INTENT_NAME} letters, digits, _ . - : /")
            return False
        return True

    def check_entity_name(self, line: int, name: str) -> bool:
        if len(name) > MAX_ENTITY_NAME or not ENTITY_NAME_RE.match(name):
            self.error(line, f"bad entity name {name!r}: lower_snake_case, up to {MAX_ENTITY_NAME} characters")
            return False
        return True

    def result(self) -> NluData:
        if self.errors:
            raise NluFormatError(self.errors)
        return self.data


# --- Rasa YAML ---------------------------------------------------------------------------------

_BLOCK_KINDS = ("intent", "synonym", "lookup", "regex")
_ALLOWED_BLOCK_KEYS = {*_BLOCK_KINDS, "examples", "metadata"}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _example_items(node: yaml.Node, collector: _Collector) -> list[tuple[int, str]]:
    """(line, text) for each example of a block, whichever of Rasa's forms it uses."""
    if isinstance(node, yaml.ScalarNode):
        # A literal block starts on the line after `examples: |`; its lines map 1:1 to the file.
        first = _line(node) + (1 if node.style in ("|", ">") else 0)
        items: list[tuple[int, str]] = []
        for offset, raw in enumerate(str(node.value).split("\n")):
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("- ") and stripped != "-":
                collector.error(first + offset, f"example must start with '- ': {stripped[:60]!r}")
                continue
            items.append((first + offset, stripped[1:].strip()))
        return items
    if isinstance(node, yaml.SequenceNode):
        items = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                items.append((_line(item), str(item.value)))
            elif isinstance(item, yaml.MappingNode):
                text = next((_scalar(v) for k, v in item.value if _scalar(k) == "text"), None)
                if text is None:
                    collector.error(_line(item), "example mapping needs a 'text' key")
                else:
                    items.append((_line(item), text))
            else:
                collector.error(_line(item), "an example must be text")
        return items
    collector.error(_line(node), "'examples' must be a block of '- text' lines or a list")
    return []


def parse_rasa_yaml(content: str) -> NluData:
    collector = _Collector()
    try:
        # compose() builds nodes (with line numbers) and never constructs Python objects: safe input.
        root = yaml.compose(content, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise NluFormatError([((mark.line + 1) if mark else 0, f"YAML syntax: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise NluFormatError([(0, f"YAML syntax: {exc}")]) from exc
    if root is None:
        raise NluFormatError([(1, "empty file")])
    if not isinstance(root, yaml.MappingNode):
        raise NluFormatError([(_line(root), "top level must be a mapping with an 'nlu:' key")])

    nlu_node = next((v for k, v in root.value if _scalar(k) == "nlu"), None)
    if nlu_node is None:
        raise NluFormatError([(1, "no 'nlu:' section")])
    if not isinstance(nlu_node, yaml.SequenceNode):
        raise NluFormatError(
            [(_line(nlu_node), "'nlu:' must be a list of '- intent:' (or synonym/lookup/regex) blocks")]
        )

    for block in nlu_node.value:
        _parse_block(block, collector)
    return collector.result()


def _parse_block(block: yaml.Node, collector: _Collector) -> None:
    if not isinstance(block, yaml.MappingNode):
        collector.error(_line(block), "expected a block like '- intent: name'")
        return
    keys = {_scalar(k): (k, v) for k, v in block.value}
    for key, (key_node, _) in keys.items():
        if key not in _ALLOWED_BLOCK_KEYS:
            collector.error(_line(key_node), f"unknown key {key!r}")
    kinds = [k for k in _BLOCK_KINDS if k in keys]
    if len(kinds) != 1:
        collector.error(_line(block), "a block needs exactly one of: intent, synonym, lookup, regex")
        return
    kind = kinds[0]
    name_node = keys[kind][1]
    name = (_scalar(name_node) or "").strip()
    if "examples" not in keys:
        collector.error(_line(block), f"{kind} {name!r} has no 'examples'")
        return
    items = _example_items(keys["examples"][1], collector)

    if kind == "intent":
        if collector.check_intent_name(_line(name_node), name):
            for line, text in items:
                collector.add_example(line, name, text)
        return
    if kind == "synonym":
        if not name or len(name) > MAX_ENTITY_VALUE:
            collector.error(_line(name_node), f"synonym value must be 1-{MAX_ENTITY_VALUE} characters")
            return
        target = collector.data.synonyms.setdefault(name, [])
        _add_values(items, target, collector)
        return
    if not collector.check_entity_name(_line(name_node), name):
        return
    if kind == "lookup":
        _add_values(items, collector.data.lookups.setdefault(name, []), collector)
        return
    patterns = collector.data.regexes.setdefault(name, [])
    for line, pattern in items:
        try:
            re.compile(pattern)
        except re.error as exc:
            collector.error(line, f"bad regex for {name!r}: {exc}")
            continue
        if len(pattern) > MAX_PATTERN:
            collector.error(line, f"regex longer than {MAX_PATTERN} characters")
            continue
        patterns.append(pattern)


def _add_values(items: list[tuple[int, str]], target: list[str], collector: _Collector) -> None:
    for line, raw in items:
        value = " ".join(raw.split())
        if not value or len(value) > MAX_ENTITY_VALUE:
            collector.error(line, f"value must be 1-{MAX_ENTITY_VALUE} characters")
        elif value not in target:
            target.append(value)


def write_rasa_yaml(data: NluData) -> str:
    out = ['version: "3.1"', "nlu:"]

    def block(kind: str, name: str, examples: list[str]) -> None:
        out.append(f"- {kind}: {_yaml_inline(name)}")
        out.append("  examples: |")
        out.extend(f"    - {' '.join(example.split())}" for example in examples)

    for intent, texts in data.intents.items():
        block("intent", intent, texts)
    for canonical, synonyms in data.synonyms.items():
        if synonyms:
            block("synonym", canonical, synonyms)
    for entity, values in data.lookups.items():
        block("lookup", entity, values)
    for entity, patterns in data.regexes.items():
        block("regex", entity, patterns)
    return "\n".join(out) + "\n"


def _yaml_inline(value: str) -> str:
    # Let PyYAML decide on quoting ("yes", "1.0", "a: b" would otherwise change meaning).
    return yaml.safe_dump(value, default_style=None, width=10_000).removesuffix("\n...\n").strip()


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("text", "intent")


def parse_csv(content: str) -> NluData:
    collector = _Collector()
    content = content.removeprefix("\ufeff")  # Excel writes a BOM
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise NluFormatError([(1, "empty file")]) from None
    except csv.Error as exc:
        raise NluFormatError([(1, f"CSV: {exc}")]) from exc
    columns = [c.strip().lower() for c in header]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise NluFormatError([(1, f"header must name the columns text,intent (missing: {', '.join(missing)})")])
    text_index, intent_index = columns.index("text"), columns.index("intent")

    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            collector.error(reader.line_num, f"CSV: {exc}")
            break
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            collector.error(line, f"expected {len(columns)} columns, found {len(row)}")
            continue
        intent = row[intent_index].strip()
        if collector.check_intent_name(line, intent):
            collector.add_example(line, intent, row[text_index])
    return collector.result()


def write_csv(data: NluData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for text, intent in data.examples():
        writer.writerow([text, intent])
    return buffer.getvalue()

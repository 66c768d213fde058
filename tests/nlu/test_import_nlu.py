"""The import_nlu / export_nlu management commands (thin callers of nlu.services.training)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from bots.models import TrainingPhrase
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

YAML = """\
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
- intent: goodbye
  examples: |
    - bye
"""


def test_imports_yaml_and_exports_csv(tmp_path: Path) -> None:
    bot = BotFactory(slug="shop")
    source = tmp_path / "nlu.yml"
    source.write_text(YAML)
    out = StringIO()
    call_command("import_nlu", "shop", str(source), stdout=out, stderr=StringIO())
    assert "3 phrases added" in out.getvalue()
    assert TrainingPhrase.objects.filter(intent__bot=bot).count() == 3

    target = tmp_path / "out.csv"
    call_command("export_nlu", "shop", str(target), stdout=StringIO())
    assert target.read_text().splitlines() == ["text,intent", "bye,goodbye", "hello,greet", "hi there,greet"]


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_imported(tmp_path: Path) -> None:
    bot = BotFactory(slug="shop")
    source = tmp_path / "nlu.csv"
    source.write_text("text,intent\nhello,greet\n,greet\nhi,bad intent name\n")
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_nlu", "shop", str(source), stdout=StringIO(), stderr=err)
    assert f"{source}:3:" in err.getvalue() and f"{source}:4:" in err.getvalue()
    assert "nothing was imported" in str(caught.value)
    assert not TrainingPhrase.objects.filter(intent__bot=bot).exists()


def test_exit_code_is_1_on_errors(tmp_path: Path) -> None:
    BotFactory(slug="shop")
    source = tmp_path / "nlu.csv"
    source.write_text("text\nhello\n")
    # Run as from the shell: Django turns a CommandError into exit status 1.
    with pytest.raises(SystemExit) as caught:
        ManagementUtility(["manage.py", "import_nlu", "shop", str(source)]).execute()
    assert caught.value.code == 1


def test_unknown_bot_and_extension(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no bot"):
        call_command("import_nlu", "missing", str(tmp_path / "x.csv"))
    BotFactory(slug="shop")
    with pytest.raises(CommandError, match="unknown file type"):
        call_command("import_nlu", "shop", str(tmp_path / "x.json"))

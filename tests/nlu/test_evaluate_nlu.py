"""`manage.py evaluate_nlu`: held-out examples -> accuracy/recall table and a suggested threshold."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bots.models import Bot
from engine.nlu_calibration import pick_threshold, scored
from nlu.services.imports import nlu_data_import
from nlu.services.parsing import nlu_cache_clear, nlu_parse
from tests.factories import BotFactory
from tests.nlu.test_nlu_service import DATA

pytestmark = pytest.mark.django_db

HELD_OUT = """\
text,intent
what's left in my bank account,check_balance
how much cash do i have,check_balance
get me a flight to rome,book_flight
i'd like to fly to madrid on monday,book_flight
what is the tallest mountain in africa,oos
tell me a knock knock joke,out_of_scope
"""


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    path = tmp_path / "held_out.csv"
    path.write_text(HELD_OUT)
    return path


def test_prints_the_table_and_applies_the_suggested_threshold(held_out: Path) -> None:
    bot = BotFactory(slug="bank", nlu_threshold=0.9)
    nlu_data_import(bot=bot, source=DATA)
    nlu_cache_clear()
    out, err = StringIO(), StringIO()
    call_command("evaluate_nlu", "bank", str(held_out), "--min-accuracy", "1.0", "--apply", stdout=out, stderr=err)
    text = out.getvalue()
    assert "4 in-scope and 2 out-of-scope examples" in text and "top-1 accuracy (no threshold): 100.0%" in text
    assert "<- current" in text and "suggested" in text

    # The stored threshold is exactly what the calibration rule gives for these parses.
    examples = [
        scored(intent, nlu_parse(bot=bot, text=t, threshold=0.0))
        for t, intent in (line.rsplit(",", 1) for line in HELD_OUT.splitlines()[1:])
    ]
    expected = pick_threshold(examples, 1.0)
    bot.refresh_from_db()
    assert bot.nlu_threshold == pytest.approx(expected.threshold) and expected.accuracy == 1.0
    assert f"threshold set to {expected.threshold:.3f} (was 0.900)" in text
    nlu_cache_clear()


def test_without_apply_the_bot_is_unchanged(held_out: Path) -> None:
    bot = BotFactory(slug="bank2", nlu_threshold=0.9)
    nlu_data_import(bot=bot, source=DATA)
    out = StringIO()
    call_command("evaluate_nlu", "bank2", str(held_out), stdout=out, stderr=StringIO())
    assert "--apply stores it" in out.getvalue()
    assert Bot.objects.get(pk=bot.pk).nlu_threshold == 0.9
    nlu_cache_clear()


def test_clear_errors(held_out: Path, tmp_path: Path) -> None:
    BotFactory(slug="empty")
    with pytest.raises(CommandError, match="no bot with slug 'nope'"):
        call_command("evaluate_nlu", "nope", str(held_out))
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("evaluate_nlu", "empty", str(held_out), "--min-accuracy", "95")
    with pytest.raises(CommandError, match="has no training phrases"):
        call_command("evaluate_nlu", "empty", str(held_out), stderr=StringIO())
    bad = tmp_path / "bad.csv"
    bad.write_text("text,intent\nonly one column\n")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was evaluated"):
        call_command("evaluate_nlu", "empty", str(bad), stderr=err)
    assert "bad.csv:2:" in err.getvalue()

"""The turn detects the visitor's language, records it on the message, and asks a generated reply
to use it when it is not the bot's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bots.models import Bot, Conversation, Message
from conversations.services.conversations import conversation_start
from conversations.services.sequencing import message_insert_next_seq
from conversations.services.turns import turn_run
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage, ParseResult
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


class NoEvents:
    def typing(self, **_: object) -> None: ...
    def delta(self, **_: object) -> None: ...
    def message(self, **_: object) -> None: ...
    def error(self, **_: object) -> None: ...


class RecordingLLM:
    def __init__(self) -> None:
        self.requests: list[CompletionRequest] = []

    def stream(self, request: CompletionRequest) -> Any:
        self.requests.append(request)

        class Stream:
            usage = CompletionUsage(prompt_tokens=3, completion_tokens=2, model="recording")

            def __iter__(self) -> Iterator[CompletionChunk]:
                yield CompletionChunk(text="ok")

        return Stream()


def no_intents(_bot: Bot) -> Any:
    return lambda text: ParseResult(text=text, intent=None, ranking=[], entities=[])


def say(conversation: Conversation, text: str, llm: RecordingLLM) -> Message:
    message = message_insert_next_seq(conversation_id=conversation.pk, role="user", text=text, client_id=text[:60])
    turn_run(user_message_id=message.pk, events=NoEvents(), llm=llm, nlu=no_intents, coalesce_ms=0)
    message.refresh_from_db()
    return message


def prompt_of(llm: RecordingLLM) -> str:
    return llm.requests[-1].messages[-1].content


@pytest.mark.parametrize(
    ("bot_language", "text", "recorded", "asked"),
    [
        (Bot.Language.AUTO, "我的订单在哪里？", "zh", "Reply in Chinese"),
        (Bot.Language.ENGLISH, "Où est ma commande ?", "fr", "Reply in French"),
        (Bot.Language.CHINESE, "where is my order please", "en", "Reply in English"),
        (Bot.Language.AUTO, "where is my order please", "en", None),  # the prompt's own language: nothing to ask
        (Bot.Language.CHINESE, "你们几点关门", "zh", None),
    ],
)
def test_the_language_is_recorded_and_asked_for_when_it_differs(
    bot_language: str, text: str, recorded: str, asked: str | None, settings: Any
) -> None:
    settings.LANGUAGE_DETECTION_LANGUAGES = ["en", "zh", "fr", "de", "es"]
    llm = RecordingLLM()
    conversation = conversation_start(bot=BotFactory(persona="You help.", language=bot_language))
    message = say(conversation, text, llm)
    assert message.language == recorded
    system = llm.requests[-1].messages[0].content
    assert "Reply in" not in system  # never in the system message: the cached prefix stays
    if asked:
        assert asked in prompt_of(llm)
    else:
        assert "Reply in" not in prompt_of(llm)


def test_with_the_default_languages_french_is_not_mistaken_for_chinese() -> None:
    llm = RecordingLLM()
    conversation = conversation_start(bot=BotFactory(persona="You help."))
    assert say(conversation, "Où est ma commande ?", llm).language in ("en", "")
    assert "Reply in" not in prompt_of(llm)


def test_a_scrap_takes_the_language_of_the_visitors_recent_messages() -> None:
    llm = RecordingLLM()
    conversation = conversation_start(bot=BotFactory(persona="You help."))
    say(conversation, "我想查一下我的订单", llm)
    scrap = say(conversation, "ok", llm)
    assert scrap.language == "zh"
    assert "Reply in Chinese" in prompt_of(llm)


def test_undecided_with_no_history_records_nothing(settings: Any) -> None:
    llm = RecordingLLM()
    conversation = conversation_start(bot=BotFactory(persona="You help."))
    assert say(conversation, "12345", llm).language == ""
    settings.LANGUAGE_DETECTION_LANGUAGES = []
    assert say(conversation, "我的订单在哪里", llm).language == ""  # detection off

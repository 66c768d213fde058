"""The restore drill of `make backup` / `make restore` (chatplatform/launcher/backup.py).

A backup is only as good as its restore: the test session's database gets a bot with a
conversation, a trained NLU model, knowledge with pgvector embeddings; it is dumped, restored into
a new empty database on the same server, and the restored tables must hash identically row for
row, with pgvector, its HNSW index and the migration history back. A damaged or foreign file is
refused before anything is dropped, and a restore that fails halfway changes nothing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from django.db import connection
from psycopg import sql
from psycopg.rows import TupleRow

from bots.models import EMBEDDING_DIMENSIONS, KnowledgeChunk, KnowledgeDocument, Message, NluModel
from chatplatform.launcher.backup import (
    BackupError,
    BadBackupFile,
    backup_create,
    backup_restore,
    backup_verify,
    checksum_path,
    database_target,
    file_sha256,
)
from tests.factories import BotFactory, ConversationFactory, MessageFactory, TrainingPhraseFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Every table that holds what a restore must bring back, with its ordering key.
DRILL_TABLES = (
    "bots_bot",
    "bots_conversation",
    "bots_message",
    "bots_nlumodel",
    "bots_knowledgedocument",
    "bots_knowledgechunk",
    "bots_trainingphrase",
    "django_migrations",
)


def database_url(name: str) -> str:
    """A libpq URL for database `name` on the test session's server (embedded: a socket directory)."""
    settings = connection.settings_dict
    host = settings["HOST"] or settings["OPTIONS"].get("host", "")
    port = str(settings["PORT"] or "")
    query: dict[str, str] = {}
    netloc_host = ""
    if host.startswith("/"):
        query["host"] = host
        if port:
            query["port"] = port
    elif host:
        netloc_host = f"{host}:{port}" if port else host
    userinfo = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        userinfo += ":" + quote(settings["PASSWORD"], safe="")
    at = "@" if userinfo or netloc_host else ""
    url = f"postgresql://{userinfo}{at}{netloc_host}/{quote(name, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def connect(url: str) -> psycopg.Connection[TupleRow]:
    target = database_target(url)
    return psycopg.connect(target.uri, password=target.password, autocommit=True)


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Per table: row count and md5 of every row's text form, in primary-key order (bytea as hex,
    vectors as their text: any changed byte or float changes the hash)."""
    digests: dict[str, tuple[int, str]] = {}
    with connect(url) as conn:
        for table in DRILL_TABLES:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM {} AS t"
            ).format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None
            digests[table] = (int(row[0]), str(row[1]))
    return digests


def schema_objects(url: str) -> dict[str, list[str]]:
    with connect(url) as conn:
        return {
            "tables": [
                str(r[0])
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
                )
            ],
            "indexes": [
                str(r[0])
                for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
            ],
            "extensions": [
                f"{r[0]} {r[1]}" for r in conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1")
            ],
        }


def nearest_chunk_titles(url: str, probe: list[float]) -> list[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT title FROM bots_knowledgechunk ORDER BY embedding <=> %s::vector, id LIMIT 3",
            (str(probe),),
        ).fetchall()
    return [str(r[0]) for r in rows]


def unit_vector(hot: int) -> list[float]:
    vector = [0.0] * EMBEDDING_DIMENSIONS
    vector[hot] = 1.0
    vector[(hot + 1) % EMBEDDING_DIMENSIONS] = 0.25
    return vector


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A new, empty database on the test server (the restore target); dropped afterwards."""
    name = f"restore_drill_{secrets.token_hex(4)}"
    source = database_url(connection.settings_dict["NAME"])
    with connect(source) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with connect(source) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def platform_data() -> bytes:
    """Committed rows in every table the drill compares (transaction=True: pg_dump sees them);
    returns the NLU model's artifact bytes."""
    bot = BotFactory(slug="drill", name="Drill bot", persona="Grüße, 你好 🚀: a persona with non-ASCII text")
    conversation = ConversationFactory(bot=bot, tracker={"slots": {"order": "A-17"}, "form": None}, locale="de")
    question = MessageFactory(conversation=conversation, seq=1, text="Wo ist meine Bestellung? 📦", client_id="c-1")
    MessageFactory(
        conversation=conversation,
        seq=2,
        role=Message.Role.BOT,
        reply_to=question,
        text="It ships tomorrow.\n\n**Tracking**: A-17",
        intent="track_order",
        confidence=0.875,
        quick_replies=["Thanks", "Change address"],
        citations=[{"title": "Shipping", "url": "https://shop.example.com/shipping"}],
    )
    other = ConversationFactory(bot=bot)
    MessageFactory(conversation=other, seq=1, text="hello")
    TrainingPhraseFactory(intent__bot=bot, text="where is my order", embedding=unit_vector(3))
    # Binary model bytes with every byte value, NULs included.
    artifact = bytes(range(256)) * 64 + os.urandom(4096)
    NluModel.objects.create(bot=bot, data_version=1, artifact=artifact, metrics={"accuracy": 0.93})
    NluModel.objects.create(
        bot=bot, data_version=1, strategy=NluModel.Strategy.FINETUNE, artifact=artifact[::-1], metrics={}
    )
    document = KnowledgeDocument.objects.create(
        bot=bot,
        filename="shipping.md",
        title="Shipping",
        status=KnowledgeDocument.Status.READY,
        source=b"# Shipping\n\x00\xff raw upload bytes",
        text="Shipping takes two days. Returns are free.",
        chunk_count=2,
    )
    for index, (title, text) in enumerate([("Shipping", "Shipping takes two days."), ("Returns", "Returns are free.")]):
        KnowledgeChunk.objects.create(
            bot=bot,
            document=document,
            title=title,
            text=text,
            heading_path=["Shipping", title],
            char_start=index * 25,
            char_end=index * 25 + len(text),
            embedding=unit_vector(10 + index),
        )
    KnowledgeChunk.objects.create(bot=bot, title="Typed by hand", text="Open 9-17.", embedding=unit_vector(200))
    return artifact


def test_restore_drill_brings_everything_back_identical(
    platform_data: bytes, scratch_database: str, tmp_path: Path
) -> None:
    source = database_url(connection.settings_dict["NAME"])
    expected = table_digests(source)
    assert expected["bots_message"][0] == 3 and expected["bots_nlumodel"][0] == 2
    assert expected["bots_knowledgechunk"][0] == 3 and expected["django_migrations"][0] > 0

    lines: list[str] = []
    dump = backup_create(source, tmp_path / "backups" / "drill.dump", say=lines.append)

    assert dump.read_bytes()[:5] == b"PGDMP"
    assert checksum_path(dump).read_text() == f"{file_sha256(dump)}  drill.dump\n"
    assert dump.stat().st_mode & 0o077 == 0, "a dump holds secrets: owner-only"
    assert not list(dump.parent.glob("*.partial"))
    assert any("wrote" in line and "drill.dump" in line for line in lines), lines

    backup_restore(scratch_database, dump, say=lines.append)

    assert table_digests(scratch_database) == expected
    restored_schema = schema_objects(scratch_database)
    assert restored_schema == schema_objects(source)
    assert any(ext.startswith("vector ") for ext in restored_schema["extensions"])
    assert "knowledge_chunk_embedding" in restored_schema["indexes"]
    # pgvector works on the restored rows: the same nearest passages, in the same order.
    probe = unit_vector(11)
    assert nearest_chunk_titles(scratch_database, probe)[0] == "Returns"
    assert nearest_chunk_titles(scratch_database, probe) == nearest_chunk_titles(source, probe)
    with connect(scratch_database) as conn:
        row = conn.execute("SELECT artifact FROM bots_nlumodel WHERE strategy = 'frozen'").fetchone()
    assert row is not None and bytes(row[0]) == platform_data

    # Restoring over a database that changed since replaces its data again (--clean).
    with connect(scratch_database) as conn:
        conn.execute("DELETE FROM bots_message WHERE seq = 2")
        conn.execute("UPDATE bots_nlumodel SET artifact = '\\x00'::bytea")
        conn.execute("UPDATE bots_knowledgechunk SET embedding = NULL")
    assert table_digests(scratch_database) != expected
    backup_restore(scratch_database, dump)
    assert table_digests(scratch_database) == expected


def run_cli(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database}
    return subprocess.run(
        [sys.executable, "-m", "chatplatform.launcher.backup", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_cli_refuses_foreign_and_damaged_files_without_a_traceback(scratch_database: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"this is not a database dump\n" * 100)
    result = run_cli("restore", str(garbage), "--yes", database=scratch_database)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "is not a pg_dump custom-format archive" in output
    assert "Traceback" not in output

    missing = run_cli("restore", str(tmp_path / "nope.dump"), "--yes", database=scratch_database)
    assert missing.returncode == 2
    assert "backup file not found" in missing.stdout and "Traceback" not in missing.stdout + missing.stderr

    # A real dump (via the CLI's create), damaged afterwards: its checksum gives it away.
    dump = tmp_path / "scratch.dump"
    created = run_cli("create", "--output", str(dump), database=scratch_database)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "sha256" in created.stdout and checksum_path(dump).is_file()
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = run_cli("restore", str(dump), "--yes", database=scratch_database)
    assert damaged.returncode == 2, damaged.stdout + damaged.stderr
    assert "is damaged" in damaged.stdout and "Traceback" not in damaged.stdout + damaged.stderr


def test_cli_restore_asks_for_confirmation(scratch_database: str, tmp_path: Path) -> None:
    dump = tmp_path / "scratch.dump"
    assert run_cli("create", "--output", str(dump), database=scratch_database).returncode == 0
    result = run_cli("restore", str(dump), database=scratch_database)
    assert result.returncode == 1
    assert "REPLACES" in result.stdout and "pass --yes" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_restore_failing_halfway_changes_nothing(platform_data: bytes, scratch_database: str, tmp_path: Path) -> None:
    source = database_url(connection.settings_dict["NAME"])
    dump = backup_create(source, tmp_path / "full.dump")
    backup_restore(scratch_database, dump)
    before = table_digests(scratch_database)

    # The table of contents is intact, the data at the end is cut off (and no checksum to tell).
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size - 2048])
    backup_verify(truncated)
    with pytest.raises(BackupError) as failure:
        backup_restore(scratch_database, truncated)
    assert not isinstance(failure.value, BadBackupFile)
    assert "nothing was changed" in str(failure.value)
    assert table_digests(scratch_database) == before


def test_database_urls_become_libpq_uris_without_the_password() -> None:
    target = database_target("postgresql+psycopg://app:p%40ss%3Aword@db.internal:5433/chat?sslmode=require")
    assert target.uri == "postgresql://app@db.internal:5433/chat?sslmode=require"
    assert target.password == "p@ss:word"
    assert target.env()["PGPASSWORD"] == "p@ss:word"
    assert "p@ss" not in target.describe() and "db.internal" in target.describe()

    embedded = database_target("postgresql://postgres:@/chatplatform?host=/tmp/x/pg")
    assert (embedded.uri, embedded.password) == ("postgresql://postgres@/chatplatform?host=/tmp/x/pg", None)
    assert database_target("psql://u@h/d").uri == "postgresql://u@h/d"
    with pytest.raises(BackupError, match="postgresql://"):
        database_target("mysql://u:secret@h/d")


def test_cli_restore_refuses_while_other_clients_are_connected(scratch_database: str, tmp_path: Path) -> None:
    dump = tmp_path / "scratch.dump"
    assert run_cli("create", "--output", str(dump), database=scratch_database).returncode == 0
    with connect(scratch_database):
        result = run_cli("restore", str(dump), "--yes", database=scratch_database)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 other connection(s) to this database are open" in result.stdout
    assert "--force" in result.stdout and "Traceback" not in result.stdout + result.stderr
    # Once they are gone, the same command restores.
    again = run_cli("restore", str(dump), "--yes", database=scratch_database)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "restored in" in again.stdout

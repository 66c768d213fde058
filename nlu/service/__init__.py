"""The NLU service: `python -m nlu.service`, a small internal HTTP server that parses with the
bot's model in its own process, so the parse API answers without a Celery round trip while the web
process still loads no model.

Importing this package sets Django up (the app imports models at module level), as
`chatplatform/asgi.py` does for the web process; in a process where Django is already set up
(tests) it does nothing.
"""

from __future__ import annotations

import os

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
if not apps.ready:
    django.setup()

# Full-text search over Chinese (issue #16): the segmented words of messages and knowledge chunks
# (engine/segmentation.py), indexed together with the text. Old indexes go first, so the backfill
# does not maintain them; the new ones are built once, over the backfilled rows.

from functools import reduce
from operator import or_

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.conf import settings
from django.db import migrations, models
from django.db.models import Q

from engine.segmentation import HAN_CLASS, index_tokens

BACKFILL_BATCH = 1000
# Which columns each model's tokens are segmented from (bots.models: search_tokens_derive).
SEARCH_TOKEN_SOURCES = {"Message": ("text",), "KnowledgeChunk": ("title", "text")}


def search_tokens_backfill(apps, schema_editor):
    """Segment every row holding Chinese whose tokens are still empty, in primary-key batches (a
    keyset walk: no server-side cursor, no growing OFFSET); rows without Chinese keep "" (their
    text's own words are all the index needs)."""
    for model_name, fields in SEARCH_TOKEN_SOURCES.items():
        model = apps.get_model("bots", model_name)
        has_han = reduce(or_, (Q(**{f"{field}__regex": f"[{HAN_CLASS}]"}) for field in fields))
        pending = model.objects.filter(has_han, search_tokens="").order_by("pk").only("pk", *fields)
        last_pk = 0
        while batch := list(pending.filter(pk__gt=last_pk)[:BACKFILL_BATCH]):
            for row in batch:
                row.search_tokens = index_tokens(*(getattr(row, field) for field in fields))
            model.objects.bulk_update(batch, ["search_tokens"])
            last_pk = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('bots', '0012_retention_days'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='knowledgechunk',
            name='knowledge_chunk_search',
        ),
        migrations.RemoveIndex(
            model_name='message',
            name='message_text_search',
        ),
        migrations.AddField(
            model_name='knowledgechunk',
            name='search_tokens',
            field=models.TextField(blank=True, db_default='', default='', editable=False),
        ),
        migrations.AddField(
            model_name='message',
            name='search_tokens',
            field=models.TextField(blank=True, db_default='', default='', editable=False),
        ),
        # Reversed, the columns are dropped: nothing to undo here.
        migrations.RunPython(search_tokens_backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='knowledgechunk',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('title', 'text', 'search_tokens', config='english'), name='knowledge_chunk_search'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('text', 'search_tokens', config='simple'), name='message_text_search'),
        ),
    ]

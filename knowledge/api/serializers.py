"""Shapes of the knowledge API."""

from __future__ import annotations

from rest_framework import serializers

from bots.models import KnowledgeDocument

SEARCH_MAX_K = 50


class KnowledgeDocumentSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField(help_text="A collection's documents by status; null otherwise.")

    class Meta:
        model = KnowledgeDocument
        fields = [
            "id",
            "kind",
            "filename",
            "external_id",
            "title",
            "url",
            "status",
            "error",
            "chunk_count",
            "members",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_members(self, document: KnowledgeDocument) -> dict[str, int] | None:
        if document.kind != KnowledgeDocument.Kind.COLLECTION:
            return None
        total = getattr(document, "members_total", None)  # the list view's annotations
        if total is not None:
            return {
                "total": total,
                "ready": getattr(document, "members_ready", 0),
                "failed": getattr(document, "members_failed", 0),
            }
        members = document.members.all()
        return {
            "total": members.count(),
            "ready": members.filter(status=KnowledgeDocument.Status.READY).count(),
            "failed": members.filter(status=KnowledgeDocument.Status.FAILED).count(),
        }


class KnowledgeUploadSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        allow_empty=False,
        max_length=100,
        help_text="One or more files (multipart `file` fields): Markdown, text, HTML, PDF, DOCX, "
        "JSONL of documents, CSV of FAQ pairs, or a ZIP of them.",
    )


class KnowledgeSearchSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, max_value=SEARCH_MAX_K, default=10)


class _SearchDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()


class KnowledgeSearchHitSerializer(serializers.Serializer):
    document = _SearchDocumentSerializer()
    chunk_id = serializers.IntegerField()
    text = serializers.CharField()
    heading_path = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField(help_text="Reciprocal-rank fusion of vector and full-text search.")
    similarity = serializers.FloatField(help_text="Cosine similarity of the chunk to the query.")


class KnowledgeSearchResultSerializer(serializers.Serializer):
    results = KnowledgeSearchHitSerializer(many=True)

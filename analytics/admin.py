from django.contrib import admin

from analytics.models import BotAssignment, IntentSuggestion, Tag


@admin.register(BotAssignment)
class BotAssignmentAdmin(admin.ModelAdmin):
    list_display = ["user", "bot", "created_at"]
    list_filter = ["bot"]
    search_fields = ["user__username", "bot__slug"]
    autocomplete_fields = ["user"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(IntentSuggestion)
class IntentSuggestionAdmin(admin.ModelAdmin):
    list_display = ["text", "intent", "new_intent_name", "bot", "status", "created_by", "created_at"]
    list_filter = ["status", "bot"]
    raw_id_fields = ["message", "intent", "training_phrase"]
    readonly_fields = ["reviewed_by", "reviewed_at"]

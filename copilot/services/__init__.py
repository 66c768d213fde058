"""Writes of the copilot: enqueue, write (in the worker) and publish briefs and suggestions, record outcomes."""

from copilot.services.briefs import brief_request, brief_write
from copilot.services.suggestions import (
    SuggestionRefused,
    suggestion_outcome_record,
    suggestion_request,
    suggestion_write,
)

__all__ = [
    "SuggestionRefused",
    "brief_request",
    "brief_write",
    "suggestion_outcome_record",
    "suggestion_request",
    "suggestion_write",
]

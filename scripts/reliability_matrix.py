"""The fault and attack matrix (issue #17): every row names the tests that prove it.

    python scripts/reliability_matrix.py          # run the matrix's tests, rewrite docs/reliability.md
    python scripts/reliability_matrix.py --check  # only check that every named test exists (CI does)

`make chaos` runs the first. Each row's result is "pass" when all its tests passed, "fail" when one
failed, "skipped" when one was skipped (e.g. no Chromium) and none failed. A row whose scenario is
not fully covered says what is missing in its "gap" text, shown in the document: the matrix does
not claim more than its tests prove.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


@dataclass(frozen=True)
class Row:
    number: int
    scenario: str
    expected: str
    tests: tuple[str, ...]
    gap: str = ""


C = "tests/conversations/"
ROWS: tuple[Row, ...] = (
    Row(
        1,
        "200 WebSocket chats, 1 message / 10 s, several minutes, stub LLM at 1-3 s",
        "no message lost or duplicated; memory flat; p95 ack < 300 ms",
        (
            "tests/bench/test_soak.py::test_soak_loses_and_duplicates_nothing",
            "tests/inference_worker/test_publisher.py::test_many_turns_finishing_at_once_never_exhaust_the_layers_connection_pool",
            "tests/bench/test_vllm_bench_smoke.py::test_idle_sockets_smoke",
            "tests/deploy/test_compose.py::test_worker_runs_the_threads_pool_with_200_threads",
            C + "test_consumer_delivery.py::test_concurrent_distinct_messages_get_distinct_seqs",
        ),
        gap="CI runs the soak with 60 chats for 1 minute (nothing lost or duplicated); the 200-chat run is "
        "`bench/soak.py` (docs/benchmarks.md). At 200 chats on this 2-core box (20 turns/s, 1.6 of 2 cores "
        "busy) nothing was lost or duplicated in 5,965 messages over 5 minutes, but ack p95 was 0.78 s (target "
        "300 ms; 0.11-2.2 s across 2-minute runs: the worker's 200 threads take 0.93 of the 2 cores from the web "
        "process) and the worker's RSS grew 242 MB after the warm-up, slowing each minute (+145, +71, +57, +28, "
        "+23, +18 MB) but not yet flat (web flat, +1.9 MB)",
    ),
    Row(
        2,
        "one visitor floods 1,000 messages",
        "refused by its limit; other chats unaffected",
        (
            C + "test_consumer_limits.py::test_flooding_past_the_budget_closes_the_socket",
            C + "test_consumer_limits.py::test_every_frame_counts_against_the_connection_budget",
            C + "test_consumer_frames.py::test_rate_limit_per_visitor",
            C + "test_consumer_frames.py::test_rate_limit_per_visitor_survives_reconnect",
            C + "test_consumer_frames.py::test_abuse_counter_is_per_connection",
        ),
    ),
    Row(
        3,
        "Celery worker killed (kill -9) mid-reply",
        "the turn is redone once; exactly one final reply",
        (
            C + "test_turn_engine.py::test_a_worker_killed_mid_stream_is_redone_once",
            "tests/inference_worker/test_killed_worker.py::test_turn_of_a_killed_worker_is_answered_by_the_next_worker",
            "tests/chatplatform/test_task_options.py::test_turns_are_redelivered_if_their_worker_dies",
        ),
    ),
    Row(
        4,
        "Redis restarted with turns queued, and Redis losing its data",
        "clients reconnect; unanswered messages found in PostgreSQL and answered (sweeper); no stale "
        "channel-layer connection leaves a reply undelivered",
        (
            C + "test_faults.py::test_redis_restart_between_messages",
            C + "test_faults.py::test_redis_restart_then_reconnect",
            C + "test_faults.py::test_a_failed_cleanup_of_the_lost_broker_connection_does_not_stop_the_worker",
            C + "test_sweeps.py::test_a_message_whose_turn_was_lost_is_answered_by_the_sweep",
            C
            + "test_sweeps.py::test_only_each_conversations_oldest_owed_message_is_enqueued_and_only_once_per_interval",
            C + "test_consumer_limits.py::test_turn_enqueue_failure_answers_unavailable_and_a_resend_recovers",
            "tests/inference_worker/test_publisher.py::test_a_final_send_is_retried_once_a_stale_connection_fails",
        ),
    ),
    Row(
        5,
        "PostgreSQL restarted under load",
        "clear errors, no traceback; nothing acked that was not stored; retries make no duplicates",
        (
            C
            + "test_postgres_restart.py::test_a_message_sent_while_postgres_is_down_is_refused_cleanly_and_the_resend_is_stored_once",
            C
            + "test_postgres_restart.py::test_postgres_restarting_while_a_reply_streams_delays_the_store_and_loses_nothing",
            C
            + "test_postgres_restart.py::test_a_turn_whose_store_outlives_the_pools_wait_is_retried_and_answered_once",
            C + "test_turn_engine.py::test_a_retry_takes_back_the_lease_its_failed_attempt_could_not_release",
            C + "test_chat_slice.py::test_duplicate_client_id_is_stored_once",
            C + "test_consumer_delivery.py::test_concurrent_duplicates_from_two_connections",
        ),
        gap="PostgreSQL is restarted under one live chat at a time (between messages and in the middle of "
        "a reply's store), not under the 200-chat load of row 1",
    ),
    Row(
        6,
        "vLLM down (refused, 503, dead engine), one of several backends down",
        "bounded retries, failover, then an honest reply within seconds; /healthz says which",
        (
            C + "test_faults.py::test_dead_llm_stores_message_reports_reply_failed_and_survives",
            C + "test_faults.py::test_llm_503_twice_then_ok_is_retried_invisibly",
            "tests/inference_worker/test_client.py::test_retries_are_capped",
            "tests/inference_worker/test_backends.py::test_killed_backend_its_keys_fail_over_without_error_then_return_after_recovery",
            "tests/inference_worker/test_backends.py::test_every_backend_down_fails_fast_without_calling_them",
            "tests/chatplatform/test_health.py::test_healthz_names_vllm_when_it_is_down",
            "tests/chatplatform/test_health.py::test_vllm_is_healthy_while_any_backend_serves_the_model",
        ),
    ),
    Row(
        7,
        "vLLM hangs",
        "client timeout and task time limit fire; exactly one execution",
        (
            "tests/inference_worker/test_client.py::test_a_slow_first_token_beyond_the_read_timeout_is_a_timeout",
            "tests/inference_worker/test_client.py::test_a_trickling_stream_is_cut_at_the_total_deadline",
            C + "test_openai_api.py::test_dead_llm_gives_a_server_error_not_a_hang",
            C + "test_turn_engine.py::test_a_turn_that_outlives_its_lease_is_taken_over_and_the_reply_stored_once",
        ),
    ),
    Row(
        8,
        "prompt longer than the model's context",
        "history trimmed and retried once, no loop",
        (
            C + "test_faults.py::test_a_prompt_over_the_models_context_is_retried_once_with_less_history",
            "tests/engine/test_processor.py::test_a_prompt_over_the_context_is_sent_once_more_with_less_history",
            "tests/engine/test_processor.py::test_a_prompt_refused_twice_is_not_tried_a_third_time",
            "tests/inference_worker/test_client.py::test_a_prompt_over_the_context_is_a_context_overflow_not_retried_as_is",
        ),
    ),
    Row(
        9,
        "oversized frame / over-long message / upload",
        "refused with the documented code; nothing stored; memory flat",
        (
            C + "test_consumer_frames.py::test_frame_over_byte_limit_gets_too_large",
            C + "test_consumer_frames.py::test_message_over_the_char_limit_is_refused_and_not_stored",
            C + "test_consumer_frames.py::test_abusive_frame_closes_with_1009",
            C + "test_api_limits.py::test_oversized_body_gets_413_and_nothing_is_stored",
            "tests/nlu/test_nlu_service_http.py::test_oversized_body_is_refused_before_parsing",
            "tests/knowledge/test_documents.py::test_a_broken_file_fails_with_its_reason_and_the_others_are_untouched",
        ),
    ),
    Row(
        10,
        "malformed JSON, binary, wrong schema, unknown type",
        "error frame; the connection survives",
        (
            C + "test_consumer_frames.py::test_bad_frame_gets_error_and_connection_survives",
            C + "test_consumer_frames.py::test_binary_frame_is_refused",
            C + "test_consumer_frames.py::test_unknown_type_detail_does_not_echo_huge_type",
            C + "test_consumer_frames.py::test_deep_nesting_is_refused_without_breaking_the_interpreter",
            C + "test_inbound_frames.py::test_strict_fields_refuse_coercion",
            C + "test_api_limits.py::test_malformed_chat_request_gets_a_clean_4xx",
            "tests/inbox/test_consumer_access.py::test_bad_frames_get_a_bad_frame_error_and_the_socket_stays",
        ),
    ),
    Row(
        11,
        "NUL, lone surrogates, RTL overrides, 100k combining marks",
        "normalised or refused cleanly, never a 500",
        (
            C + "test_consumer_frames.py::test_unicode_junk_is_stored_clean",
            C + "test_consumer_frames.py::test_outgoing_frames_are_valid_utf8",
            C + "test_text_scrub.py::test_rlo_spoof_is_gone",
            C + "test_text_scrub.py::test_combining_marks_are_capped_per_base_character",
            C + "test_openai_api.py::test_dirty_history_is_cleaned_like_widget_text_not_a_500",
        ),
    ),
    Row(
        12,
        "HTML/JS in visitor text, model output, document text, agent replies",
        "inert in the widget, inbox, transcripts and admin (real browser)",
        (
            "tests/browser/test_widget_live.py::test_html_from_visitor_and_model_stays_text",
            "tests/browser/test_markup_stays_text.py::test_markup_in_every_kind_of_message_is_shown_as_text",
            C + "test_faults.py::test_html_is_plain_text_both_ways",
            "tests/knowledge/test_ingestion.py::test_html_keeps_headings_and_never_scripts",
            "tests/inbox/test_page.py::test_the_script_never_builds_html_from_strings",
            "tests/analytics/test_invisible.py::test_detail_page_shows_controls_escaped",
        ),
    ),
    Row(
        13,
        "prompt injection from visitor text and a knowledge document asking for the system prompt or "
        "other customers' data",
        "only this conversation's data reaches the prompt (a canary in another conversation never appears "
        "in any LLM request); the context block cannot be forged",
        (
            C + "test_prompt_isolation.py::test_a_canary_of_one_conversation_never_reaches_the_prompts_of_another",
            "tests/knowledge/test_knowledge.py::test_a_planted_instruction_in_a_document_stays_inside_the_context_block",
            "tests/engine/test_prompt_injection.py::test_hostile_text_never_adds_a_role_marker",
            "tests/engine/test_nlg.py::test_untrusted_text_replaces_context_markers_and_look_alikes",
        ),
    ),
    Row(
        14,
        "widget identity: right / wrong / blank / missing / expired",
        "accepted / refused / refused / refused / refused",
        (
            C + "test_consumer_access.py::test_right_hash_is_welcomed_and_stored",
            C + "test_consumer_access.py::test_wrong_hash_is_forbidden",
            C + "test_consumer_access.py::test_identity_required_without_user",
            C + "test_consumer_access.py::test_token_of_user_a_with_identity_of_user_b_is_forbidden",
            C + "test_consumer_access.py::test_an_identity_signed_with_an_expiry_holds_until_it_and_not_after",
            C + "test_consumer_tokens.py::test_400_day_old_token_is_expired_not_found",
        ),
    ),
    Row(
        15,
        "cross-origin WebSocket: missing, null, look-alike, wrong scheme",
        "refused and logged",
        (
            C + "test_consumer_access.py::test_handshake_refused_for_origin",
            C + "test_consumer_access.py::test_origin_of_another_bot_does_not_open_this_bot",
        ),
    ),
    Row(
        16,
        "anonymous, analyst, agent, admin on every page and API operation, and the inbox's live channel",
        "the role matrix holds, scoped by bot",
        (
            "tests/analytics/test_permissions.py::test_page_permissions",
            "tests/analytics/test_permissions.py::test_api_permissions",
            "tests/analytics/test_permissions.py::test_nothing_leaks_across_bots",
            "tests/inbox/test_roles.py::test_an_agent_has_the_inbox_but_not_the_bot_configuration",
            "tests/inbox/test_consumer_access.py::test_only_agents_on_this_site_connect",
        ),
    ),
    Row(
        17,
        "visitor A uses B's conversation id or token in REST, WebSocket and the inbox",
        "refused, nothing revealed",
        (
            C + "test_consumer_access.py::test_token_of_x_never_reads_or_writes_y",
            C + "test_consumer_access.py::test_token_names_a_conversation_with_another_visitor_id",
            C + "test_consumer_access.py::test_token_of_bot_a_is_refused_on_bot_b",
            "tests/inbox/test_api.py::test_another_bots_conversation_is_not_found_and_nothing_changes",
        ),
    ),
    Row(
        18,
        "random disconnects and resends for minutes",
        "every client id stored exactly once, one reply per message, no sequence gaps",
        (
            C + "test_random_disconnects.py::test_random_disconnects_and_resends_lose_and_double_nothing",
            C + "test_consumer_delivery.py::test_duplicate_client_id_across_reconnect",
            C + "test_consumer_delivery.py::test_reconnect_mid_reply_gets_the_final_message",
            C + "test_consumer_delivery.py::test_replay_after_every_last_seq",
            C + "test_consumer_lazy.py::test_first_message_resent_on_a_new_socket_after_a_lost_ack",
            C + "test_turn_engine.py::test_fifty_racing_messages_of_one_conversation_are_answered_once_each_in_order",
            "tests/browser/test_widget_live.py::test_reply_arrives_after_reconnect_when_the_network_drops",
        ),
    ),
    Row(
        19,
        "one IP opening conversations in a loop; a visitor starting new conversations to reset its quota",
        "limited per IP and per widget (Chatwoot's numbers as defaults)",
        (
            C + "test_consumer_limits.py::test_conversation_creation_is_limited_per_ip_and_widget",
            C + "test_consumer_limits.py::test_new_hello_does_not_reset_the_visitors_message_quota",
            C + "test_consumer_limits.py::test_hello_is_limited_per_ip",
            C + "test_consumer_lazy.py::test_conversation_limit_applies_at_the_first_message_not_at_hello",
        ),
    ),
    Row(
        20,
        "the OpenAI-compatible API, the parse API and the search API hammered with one key",
        "per-key limits with 429 and Retry-After, OpenAI-shaped",
        (
            C + "test_api_limits.py::test_official_client_gets_rate_limit_error_with_retry_after",
            C + "test_api_limits.py::test_quota_is_per_key_over_every_v1_endpoint",
            C + "test_api_limits.py::test_parse_quota_per_key_and_per_user_is_drf_shaped",
        ),
    ),
    Row(
        21,
        "Redis down while limits are checked",
        "a documented, tested choice (fail closed for sending, with a clear error)",
        (
            C + "test_api_limits.py::test_with_redis_down_every_key_endpoint_fails_closed_with_503_and_retry_after",
            C + "test_consumer_limits.py::test_redis_down_new_conversation_fails_closed_with_unavailable",
            C + "test_consumer_limits.py::test_redis_down_message_fails_closed_reopen_and_csat_still_work",
            C + "test_consumer_limits.py::test_rate_limit_hit_fails_open_and_strict_fails_closed",
        ),
    ),
    Row(
        22,
        "retention: conversations older than the bot's retention period",
        "deleted by a scheduled job (Celery beat) with what quotes them; a dry-run count first; logged",
        (
            "tests/privacy/test_privacy.py::test_retention_counts_first_then_deletes_only_what_is_past_the_period",
            "tests/privacy/test_privacy.py::test_the_retention_job_is_scheduled_daily",
        ),
    ),
    Row(
        23,
        "erasure: a visitor's or customer id's data on request (API and admin)",
        "every row that names them is gone, analytics caches included; a receipt stored",
        (
            "tests/privacy/test_privacy.py::test_an_erasure_deletes_everything_that_names_the_visitor_and_keeps_a_digest",
            "tests/privacy/test_privacy.py::test_an_erasure_by_verified_customer_id_and_its_checks",
            "tests/privacy/test_privacy.py::test_the_admin_erases_from_a_form_and_the_receipt_cannot_be_edited",
        ),
    ),
    Row(
        24,
        "login brute force on the admin and the analyst pages",
        "locked out after N tries per user+IP (django-axes); sessions invalidated on password change",
        (
            "tests/chatplatform/test_login_security.py::test_login_locks_out_after_five_failures_for_that_user_and_address",
            "tests/chatplatform/test_login_security.py::test_lockout_ends_after_the_cool_off",
            "tests/chatplatform/test_login_security.py::test_changing_the_password_ends_the_users_other_sessions",
        ),
    ),
    Row(
        25,
        "security headers on every page",
        "CSP without unsafe-inline scripts, frame-ancestors, nosniff, referrer policy; the widget works "
        "under a strict CSP on the host page",
        (
            "tests/chatplatform/test_csp.py::test_public_pages_send_a_csp_without_inline_script",
            "tests/chatplatform/test_csp.py::test_analytics_pages_send_a_csp_without_inline_script",
            "tests/chatplatform/test_csp.py::test_admin_and_console_pages_send_a_csp_and_the_console_may_open_its_websocket",
            "tests/browser/test_console_csp.py::test_console_and_swagger_ui_work_under_the_csp",
            "tests/inbox/test_page.py::test_an_agent_gets_the_page_under_the_csp",
        ),
    ),
    Row(
        26,
        "/metrics, /healthz, the API docs in production",
        "no internals to anonymous users beyond a status",
        (
            "tests/chatplatform/test_health.py::test_healthz_tells_anonymous_callers_only_the_statuses",
            "tests/chatplatform/test_metrics_access.py::test_metrics_refused_to_a_client_outside_the_allowlist",
            "tests/chatplatform/test_api_docs_access.py::test_anonymous_callers_are_refused_the_api_docs_by_default",
            "tests/chatplatform/test_settings.py::test_check_deploy_is_clean_with_production_settings",
        ),
    ),
    Row(
        27,
        "backup and restore of the embedded PostgreSQL (make backup / make restore)",
        "a restore drill in CI: conversations, models and knowledge come back identical",
        (
            "tests/deploy/test_backup_restore.py::test_restore_drill_brings_everything_back_identical",
            "tests/deploy/test_backup_restore.py::test_cli_refuses_foreign_and_damaged_files_without_a_traceback",
            "tests/deploy/test_backup_restore.py::test_a_restore_failing_halfway_changes_nothing",
        ),
    ),
    Row(
        28,
        "an audit log of who exported, who saw unmasked PII, who changed a bot",
        "stored, searchable by admins, never editable",
        (
            "tests/audit/test_audit_log.py::test_exports_are_recorded_with_their_filters_and_whether_they_were_masked",
            "tests/audit/test_audit_log.py::test_only_unmasked_views_of_a_transcript_are_recorded",
            "tests/audit/test_audit_log.py::test_a_bot_change_in_the_admin_is_recorded_with_its_author",
            "tests/audit/test_audit_log.py::test_api_changes_are_recorded_but_reads_refusals_and_parses_are_not",
            "tests/audit/test_audit_log.py::test_entries_cannot_be_changed_or_deleted_not_even_in_sql",
            "tests/audit/test_audit_log.py::test_admins_search_the_log_and_analysts_cannot_open_it",
        ),
    ),
)


def missing_tests(rows: tuple[Row, ...] = ROWS) -> list[str]:
    """Named tests whose file or function does not exist (a renamed test must not rot the matrix)."""
    defined: dict[Path, set[str]] = {}
    missing = []
    for row in rows:
        for node in row.tests:
            path_text, _, name = node.partition("::")
            path = ROOT / path_text
            if path not in defined:
                tree = ast.parse(path.read_text()) if path.exists() else ast.Module(body=[], type_ignores=[])
                defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
            if name not in defined[path]:
                missing.append(f"row {row.number}: {node}")
    return missing


@dataclass
class RunResult:
    outcomes: dict[str, str] = field(default_factory=dict)  # node id -> passed / failed / skipped
    seconds: float = 0.0


def run_tests(rows: tuple[Row, ...] = ROWS) -> RunResult:
    nodes = sorted({node for row in rows for node in row.tests})
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "matrix.xml"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *nodes],
            cwd=ROOT,
            check=False,
        )
        result = RunResult(seconds=time.monotonic() - started)
        if not junit.exists():
            return result
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").replace(".", "/")
            name = case.get("name", "").split("[", 1)[0]  # every parametrisation counts for the test
            node = f"{module}.py::{name}"
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            else:
                outcome = "passed"
            previous = result.outcomes.get(node)
            if previous != "failed" and not (previous == "skipped" and outcome == "passed"):
                result.outcomes[node] = outcome
    return result


def row_result(row: Row, outcomes: dict[str, str]) -> str:
    seen = [outcomes.get(node, "not run") for node in row.tests]
    if "failed" in seen or "not run" in seen:
        return "**fail**"
    if "skipped" in seen:
        return "skipped"
    return "pass (partial)" if row.gap else "pass"


def render(result: RunResult, rows: tuple[Row, ...] = ROWS) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    counts = {key: sum(1 for o in result.outcomes.values() if o == key) for key in ("passed", "failed", "skipped")}
    lines = [
        "# Reliability and security matrix",
        "",
        "Every fault and attack of issue #17, the tests that prove the expected behaviour, and the result",
        "of the last run. Generated by `scripts/reliability_matrix.py` (do not edit by hand):",
        "",
        "```bash",
        "make chaos                                      # run the matrix's tests and rewrite this file",
        "python scripts/reliability_matrix.py --check    # only check that every named test exists (in CI)",
        "```",
        "",
        "Every test named here is also part of `make test`, so CI runs them all on each change; a row marked",
        '"partial" passes what it names and says what it does not yet cover.',
        "",
        f"Last run: {stamp}, {len(result.outcomes)} tests in {result.seconds:.0f} s: {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['skipped']} skipped.",
        "",
        "| # | scenario | expected | tests | last result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        tests = "<br>".join(f"`{node}`" for node in row.tests)
        expected = row.expected + (f"<br>**Not yet covered:** {row.gap}" if row.gap else "")
        lines.append(f"| {row.number} | {row.scenario} | {expected} | {tests} | {row_result(row, result.outcomes)} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that every named test exists")
    args = parser.parse_args()
    missing = missing_tests()
    if missing:
        print("the matrix names tests that do not exist:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    if args.check:
        print(f"reliability matrix: {len(ROWS)} rows, every named test exists")
        return 0
    result = run_tests()
    DOC.write_text(render(result))
    failed = [row.number for row in ROWS if row_result(row, result.outcomes) == "**fail**"]
    print(f"wrote {DOC.relative_to(ROOT)}; rows failing: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

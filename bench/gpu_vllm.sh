#!/usr/bin/env bash
# P3 against a GPU vLLM (issue #11): vllm bench serve through our /v1/chat/completions vs. direct,
# plus the first-content-token TTFT against the exact prompt, at GPU-sized concurrency.
#
# 1. Start vLLM on the GPU host, e.g.
#      vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --served-model-name SmolLM2-135M-Instruct
# 2. Start the platform here against it (terminal 1):
#      VLLM_BASE_URL=http://gpu-host:8000/v1 VLLM_MODEL=SmolLM2-135M-Instruct make run
# 3. Run this (terminal 2):
#      TOKENIZER=HuggingFaceTB/SmolLM2-135M-Instruct bench/gpu_vllm.sh
# Results: docs/bench/vllm_serve_gpu.json and the P3 section of docs/benchmarks.md (rewritten, so
# commit the CPU and GPU sections separately, or pass --no-write through EXTRA_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e var/run.env ]; then
  echo "start the platform first: VLLM_BASE_URL=http://gpu-host:8000/v1 make run" >&2
  exit 1
fi
: "${TOKENIZER:?set TOKENIZER to the HF id of the served model or a local path}"
exec .venv/bin/python bench/vllm_serve.py \
  --tokenizer "$TOKENIZER" \
  --concurrency ${CONCURRENCY:-1 16 64 256} \
  --prompts "${PROMPTS:-512}" \
  --ttft-requests "${TTFT_REQUESTS:-256}" \
  --json docs/bench/vllm_serve_gpu.json \
  ${EXTRA_ARGS:-}

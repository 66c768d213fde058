# Image for the web and worker processes. vLLM runs in its own (GPU) container, see docker-compose.yml.
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
CMD ["uvicorn", "chatplatform.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws-max-size", "262144", "--proxy-headers"]

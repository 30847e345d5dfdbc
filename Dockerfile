# cosell: the locked environment on a slim Python image, run as a non-root user.
# Build: docker build -t cosell .   Run: docker run cosell run|web|worker --config /etc/cosell.toml
FROM python:3.12-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.12-slim
RUN groupadd --system --gid 10001 cosell \
    && useradd --system --uid 10001 --gid cosell --home-dir /var/lib/cosell --create-home cosell
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    COSELL_SERVICE__HOST=0.0.0.0 \
    COSELL_SERVICE__STATE_DIR=/var/lib/cosell
USER 10001:10001
WORKDIR /var/lib/cosell
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"]
ENTRYPOINT ["cosell"]
CMD ["run"]

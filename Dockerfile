# One image for the Jupyternetes operator and admission webhook: `jupyternetes operator`, `jupyternetes webhook`.
# Pinned base (set PYTHON_IMAGE to a digest from your registry mirror to pin it byte for byte), no root at run time,
# nothing written outside /tmp (the chart runs it with a read-only root filesystem).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY crds ./crds
COPY policies ./policies
RUN python -m venv /opt/jupyternetes \
 && /opt/jupyternetes/bin/pip install ".[operator,webhook]"

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/jupyternetes /opt/jupyternetes
ENV PATH=/opt/jupyternetes/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["jupyternetes"]
CMD ["--help"]

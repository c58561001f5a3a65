# syntax=docker/dockerfile:1
# hermetic: the admission webhook (`hermetic serve`) and the sync controller (`hermetic sync`).
#
# Two stages: build a wheel and install it with its pinned dependencies into a venv, with
# bytecode compiled there; the final stage only copies the venv in. The wheel compiles the
# admission path with mypyc (setup.py), so the build stage alone has a C compiler; the
# build fails unless the compiled modules are the ones installed. It runs as the numeric
# non-root user 65532 and writes nothing at run time (PYTHONDONTWRITEBYTECODE, HOME=/tmp):
# the pod mounts the root filesystem read-only with an emptyDir at /tmp.
#
# The base is pinned by tag here (this repository's machines cannot reach a registry to
# resolve a digest). Pin it by digest for a release:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # -> sha256:...
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:... .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install --yes --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY dsl dsl
COPY compiler compiler
COPY webhook webhook
COPY certs certs
COPY cli cli
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/hermetic \
 && /opt/hermetic/bin/pip install /wheels/hermetic-*.whl \
 && /opt/hermetic/bin/pip uninstall --yes pip setuptools \
 && /opt/hermetic/bin/python -m compileall -q -j 0 /opt/hermetic/lib \
 && /opt/hermetic/bin/hermetic --help > /dev/null \
 && /opt/hermetic/bin/python -c "from compiler import native; assert native.compiled(), native.describe()"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hermetic" \
      org.opencontainers.image.description="Isolation policies for backtest pods: admission webhook and sync controller"
ENV PATH=/opt/hermetic/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/hermetic /opt/hermetic
EXPOSE 8443
USER 65532:65532
ENTRYPOINT ["hermetic"]
CMD ["--help"]

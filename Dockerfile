# The cvae-digits service: the shipped checkpoints served by `cvae-serve` on port 8000 (README, "Docker").
#
#   docker build -t cvae-digits .
#   docker run --rm -p 8000:8000 cvae-digits
#
# GPU hosts: --build-arg TORCH_INDEX_URL=<a CUDA wheel index of PyTorch>, then run with
# `--gpus all -e CVAE_DEVICE=cuda`.

# Debian bookworm's python3 is 3.11, the Python of the pinned torch wheels; CI passes a base it built itself.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build

# Unpinned: the Python is bookworm's, and the only changes it gets there are the fixes we want.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# wheels/ is there only for an offline build (docker/smoke-test.sh downloads every wheel into it); elsewhere
# the pattern matches nothing and constraints.txt keeps the COPY from having no source at all.
COPY constraints.txt wheel[s] /tmp/pip/
# Set to 1 (with wheels/ filled) to install from /tmp/pip alone.
ARG PIP_NO_INDEX=0
# PyPI's Linux torch is the CUDA build, several GB; this index holds the CPU build. For a GPU image, name
# the index of the CUDA version your hosts' driver supports (the same URL with cu128 etc. in place of cpu).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# torch's C++ headers, C++ test binaries and protoc serve only to build and test extensions (~200 MB);
# `import torch` needs bin/torch_shm_manager alone of them.
RUN pip install --find-links /tmp/pip --constraint /tmp/pip/constraints.txt \
        --index-url "$TORCH_INDEX_URL" torch \
    && torch=/opt/venv/lib/python3.11/site-packages/torch \
    && rm -rf "$torch/include" "$torch/test" \
    && find "$torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +

# Editable, so that the code runs from /srv/cvae with whatever non-Python files it reads beside it. The client
# (client/) is a distribution of its own that the project depends on, so pip is given both. scipy's own tests
# (32 MB) serve no one here.
WORKDIR /srv/cvae
COPY pyproject.toml README.md ./
COPY model model
COPY training training
COPY app app
COPY client client
RUN pip install --find-links /tmp/pip --constraint /tmp/pip/constraints.txt --editable ./client --editable . \
    && pip uninstall --yes pip setuptools \
    && find /opt/venv/lib/python3.11/site-packages/scipy -type d -name tests -prune -exec rm -rf {} +


FROM ${BASE_IMAGE} AS runtime

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin cvae

COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/cvae
COPY model model
COPY training training
COPY app app
COPY client/src client/src
# The models the service loads: the digits (CVAE_CHECKPOINT and CVAE_CLASSIFIER default to these paths) and
# Fashion-MNIST (CVAE_EXTRA_MODELS' default).
COPY checkpoints/cvae-mnist checkpoints/cvae-mnist
COPY checkpoints/digit-classifier checkpoints/digit-classifier
COPY checkpoints/cvae-fashion checkpoints/cvae-fashion
COPY checkpoints/fashion-classifier checkpoints/fashion-classifier

# The code is root's and read-only to the service, so Python must not try to write bytecode beside it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# By number, so that a runtime can see it is not root without reading /etc/passwd (runAsNonRoot).
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["cvae-serve", "--host", "0.0.0.0", "--port", "8000"]

# The serving image: the HTTP service, the generator and the exposure estimator with their default
# checkpoints. No training code, no tests, no compilers. Two variants from one file:
#
#   docker build -t exposure-gan:cpu .
#   docker build -t exposure-gan:cuda --build-arg VARIANT=cuda .
#
# Both variants start from the same slim Python image: PyTorch's CUDA wheels carry their own CUDA
# and cuDNN libraries, so the CUDA variant needs only the host's driver, which the NVIDIA container
# toolkit mounts at run time (docker run --gpus all ...).
#
# Plain Dockerfile syntax (no BuildKit-only instructions), so the classic builder, BuildKit and
# podman/buildah all build it. PYTHON_IMAGE may be any Debian-like image with python3 and venv:
# deploy/container-test builds one from Debian's packages where no registry is reachable.
#
# Serve another checkpoint by mounting it and pointing EXPOSURE_CHECKPOINT at it:
#   docker run -v "$PWD/ckpt:/models:ro" -e EXPOSURE_CHECKPOINT=/models/mine.safetensors ...

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG VARIANT=cpu

# ---------------------------------------------------------------------------------------------
# builder: a virtual environment with torch from the variant's index and the other dependencies.
FROM ${PYTHON_IMAGE} AS builder

ARG VARIANT
ARG TORCH_VERSION=2.13.0
ARG CUDA_INDEX=cu128
# Empty: chosen from VARIANT below. Set it to use a mirror of the PyTorch index.
ARG TORCH_INDEX_URL=""
# Empty: torch comes from the index above. Else the path, inside the build, of a torch wheel to
# install instead (a folder mounted into the build, as deploy/container-test does).
ARG TORCH_WHEEL=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
COPY pyproject.toml ./
COPY deploy/docker/requirements.py ./

# pip trusts the system CA bundle rather than its own copy, so that a build behind an
# intercepting proxy can mount the host's bundle over it (podman build -v ...:ro): the mount is
# seen by the RUN steps only and never enters a layer. A TORCH_WHEEL file pins its own version.
# hadolint ignore=DL3013
RUN set -eu; \
    case "${VARIANT}" in \
        cpu) default_index="https://download.pytorch.org/whl/cpu" ;; \
        cuda) default_index="https://download.pytorch.org/whl/${CUDA_INDEX}" ;; \
        *) echo "VARIANT must be cpu or cuda, not '${VARIANT}'" >&2; exit 1 ;; \
    esac; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then \
        export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi; \
    if [ -n "${TORCH_WHEEL}" ]; then \
        pip install "${TORCH_WHEEL}"; \
    else \
        pip install --index-url "${TORCH_INDEX_URL:-$default_index}" "torch==${TORCH_VERSION}"; \
    fi; \
    python -c "import sys, torch; v = torch.__version__; sys.exit(0 if v.split('+')[0] == '${TORCH_VERSION}' else f'torch {v} installed, not ${TORCH_VERSION}')"; \
    if [ "${VARIANT}" = cpu ]; then \
        python -c "import sys, torch; sys.exit(f'a CUDA build of torch ({torch.__version__}) in the CPU image' if torch.version.cuda else 0)"; \
    fi; \
    echo "torch==${TORCH_VERSION}" > constraints.txt; \
    python requirements.py pyproject.toml > requirements.txt; \
    pip install --requirement requirements.txt --constraint constraints.txt; \
    pip check

# ---------------------------------------------------------------------------------------------
# runtime bases: what differs between the variants once the environment is built.
FROM ${PYTHON_IMAGE} AS runtime-cpu
ENV EXPOSURE_DEVICE=cpu

FROM ${PYTHON_IMAGE} AS runtime-cuda
ENV EXPOSURE_DEVICE=auto \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# ---------------------------------------------------------------------------------------------
# runtime: the environment, the service code, the default checkpoint; runs as a non-root user.
# runtime-cpu or runtime-cuda: a stage above, not an image to pin (hence the ignore).
# hadolint ignore=DL3006
FROM runtime-${VARIANT} AS runtime

LABEL org.opencontainers.image.title="exposure-gan" \
      org.opencontainers.image.description="REST service that corrects overexposed photos"

RUN groupadd --system --gid 10001 exposure \
    && useradd --system --uid 10001 --gid exposure --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin exposure

COPY --from=builder /opt/venv /opt/venv

WORKDIR /srv/exposure-gan
COPY pyproject.toml ./
COPY model/ ./model/
COPY app/ ./app/
COPY checkpoints/ ./checkpoints/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv/exposure-gan \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EXPOSURE_CHECKPOINT=/srv/exposure-gan/checkpoints/exposure-gan.safetensors \
    EXPOSURE_ESTIMATOR_CHECKPOINT=/srv/exposure-gan/checkpoints/exposure-estimator.safetensors

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]

# TF Serving with cellkiosk's model store laid out as it expects (cellkiosk export-tfserving):
# /models/<name>/<version>/saved_model.pb, /models/models.config, /models/batching_parameters.txt.
#   docker build -f docker/tfserving.Dockerfile -t cellkiosk/tfserving .
# TFSERVING_IMAGE: the official image (tensorflow/serving:2.21.0-gpu for GPU nodes).
# MAX_BATCH_SIZE: the server's batch limit; consumers learn it from the first refusal, or set
# CELLKIOSK_TFSERVING_MAX_BATCH_SIZE to the same number.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG TFSERVING_IMAGE=tensorflow/serving:2.21.0

# The export step needs cellkiosk, not TensorFlow: the same stages (and cached layers) as the gateway's.
# Dependencies, in their own venv and layer: a code change neither reinstalls nor re-copies them.
# (The requirement list is cut from pyproject.toml first: editing its other parts keeps this cache.)
FROM ${BASE_IMAGE} AS requirements
COPY docker/requirements.py pyproject.toml /src/
RUN python3 /src/requirements.py /src/pyproject.toml gateway >/requirements.txt

FROM ${BASE_IMAGE} AS deps
ARG PIP_ARGS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY docker/wheelhouse/ /wheels/
COPY --from=requirements /requirements.txt /src/requirements.txt
RUN /opt/venv/bin/pip install $PIP_ARGS -r /src/requirements.txt \
 # not needed at run time: test suites of the dependencies
 && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} +

# cellkiosk itself, into /opt/cellkiosk/lib (on PYTHONPATH in the final image).
FROM deps AS build
ARG PIP_ARGS=""
RUN /opt/venv/bin/pip install $PIP_ARGS "setuptools>=77" wheel
COPY pyproject.toml README.md /src/
COPY services/ /src/services/
RUN /opt/venv/bin/pip install $PIP_ARGS --no-deps --no-build-isolation --target /opt/cellkiosk/lib /src

FROM build AS export
ARG MAX_BATCH_SIZE=32
COPY models/ /src/models/
RUN PYTHONPATH=/opt/cellkiosk/lib /opt/venv/bin/python3 -m cellkiosk.cli export-tfserving /export \
      --models-dir /src/models --base-path /models --max-batch-size "${MAX_BATCH_SIZE}"

FROM ${TFSERVING_IMAGE}
COPY --from=export /export /models
EXPOSE 8500 8501
USER 65534:65534
# The gRPC port opens once the models in models.config have loaded.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["bash", "-c", "</dev/tcp/127.0.0.1/8500"]
ENTRYPOINT ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501", \
            "--model_config_file=/models/models.config", "--enable_batching=true", \
            "--batching_parameters_file=/models/batching_parameters.txt"]

# A queue consumer: TensorFlow in-process, or a TF Serving client when CELLKIOSK_TFSERVING_ADDRESS is set.
#   docker build -f docker/consumer.Dockerfile -t cellkiosk/consumer .
#   docker build -f docker/consumer.Dockerfile --build-arg TENSORFLOW='tensorflow[and-cuda]==2.21.0' \
#       -t cellkiosk/consumer:gpu .      # the CUDA build, for GPU nodes (needs the NVIDIA container toolkit)
# BASE_IMAGE and PIP_ARGS: as in gateway.Dockerfile.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Dependencies, in their own venv and layer: a code change neither reinstalls nor re-copies them.
# (The requirement list is cut from pyproject.toml first: editing its other parts keeps this cache.)
FROM ${BASE_IMAGE} AS requirements
ARG TENSORFLOW="tensorflow-cpu==2.21.0"
COPY docker/requirements.py pyproject.toml /src/
RUN python3 /src/requirements.py /src/pyproject.toml consumer --replace "tensorflow-cpu=${TENSORFLOW}" \
      >/requirements.txt

FROM ${BASE_IMAGE} AS deps
ARG PIP_ARGS=""
ARG TFSERVING_API="tensorflow-serving-api==2.21.0"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY docker/wheelhouse/ /wheels/
COPY --from=requirements /requirements.txt /src/requirements.txt
RUN /opt/venv/bin/pip install $PIP_ARGS -r /src/requirements.txt \
 # the serving API declares the full `tensorflow`; its protos only need the one installed above
 && /opt/venv/bin/pip install $PIP_ARGS --no-deps "${TFSERVING_API}" \
 # not needed at run time: TensorFlow's C++ headers (287 MB), libclang (TF's build tooling), test suites
 && rm -rf /opt/venv/lib/python3.11/site-packages/tensorflow/include \
 && /opt/venv/bin/pip uninstall -y -q libclang \
 && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} +

FROM deps AS build
ARG PIP_ARGS=""
RUN /opt/venv/bin/pip install $PIP_ARGS "setuptools>=77" wheel
COPY pyproject.toml README.md /src/
COPY services/ /src/services/
RUN /opt/venv/bin/pip install $PIP_ARGS --no-deps --no-build-isolation --target /opt/cellkiosk/lib /src

FROM ${BASE_IMAGE}
RUN echo 'cellkiosk:x:10001:10001:cellkiosk:/var/lib/cellkiosk:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'cellkiosk:x:10001:' >>/etc/group \
 && mkdir -p /var/lib/cellkiosk && chown 10001:10001 /var/lib/cellkiosk
COPY --from=deps /opt/venv /opt/venv
COPY models/ /opt/cellkiosk/models/
COPY --from=build /opt/cellkiosk/lib /opt/cellkiosk/lib
ENV PATH=/opt/cellkiosk/lib/bin:/opt/venv/bin:$PATH PYTHONPATH=/opt/cellkiosk/lib PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=1 CELLKIOSK_MODELS_DIR=/opt/cellkiosk/models CELLKIOSK_DATA_DIR=/var/lib/cellkiosk
USER 10001:10001
WORKDIR /var/lib/cellkiosk
# Live while a consumer of this container has a heartbeat (consumers name themselves <hostname>-<pid>).
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 CMD ["python3", "-m", "cellkiosk.consumer", "--check"]
ENTRYPOINT ["python3", "-m", "cellkiosk.consumer"]

# The HTTP gateway and web portal: FastAPI, no TensorFlow. The Helm chart runs the built-in autoscaler
# (`python3 -m cellkiosk.autoscaler`) from this image too, hence the `autoscaler` extra (the kubernetes client).
#   docker build -f docker/gateway.Dockerfile -t cellkiosk/gateway .
# BASE_IMAGE: any Debian-like image with Python 3.11 and `python3 -m venv` (default: the official one).
# PIP_ARGS: extra pip options, e.g. "--no-index --find-links /wheels" to install from docker/wheelhouse/.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Dependencies, in their own venv and layer: a code change neither reinstalls nor re-copies them.
# (The requirement list is cut from pyproject.toml first: editing its other parts keeps this cache.)
FROM ${BASE_IMAGE} AS requirements
COPY docker/requirements.py pyproject.toml /src/
RUN python3 /src/requirements.py /src/pyproject.toml gateway autoscaler >/requirements.txt

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

FROM ${BASE_IMAGE} AS models
COPY models/ /models/
# The gateway lists model cards; the SavedModels stay in the consumer and TF Serving images.
RUN find /models -type d -name saved_model -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
RUN echo 'cellkiosk:x:10001:10001:cellkiosk:/var/lib/cellkiosk:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'cellkiosk:x:10001:' >>/etc/group \
 && mkdir -p /var/lib/cellkiosk && chown 10001:10001 /var/lib/cellkiosk
COPY --from=deps /opt/venv /opt/venv
COPY --from=models /models /opt/cellkiosk/models
COPY frontend/ /opt/cellkiosk/frontend/
COPY --from=build /opt/cellkiosk/lib /opt/cellkiosk/lib
ENV PATH=/opt/cellkiosk/lib/bin:/opt/venv/bin:$PATH PYTHONPATH=/opt/cellkiosk/lib PYTHONUNBUFFERED=1 \
    CELLKIOSK_MODELS_DIR=/opt/cellkiosk/models CELLKIOSK_FRONTEND_DIR=/opt/cellkiosk/frontend \
    CELLKIOSK_DATA_DIR=/var/lib/cellkiosk CELLKIOSK_HOST=0.0.0.0 CELLKIOSK_PORT=8000
USER 10001:10001
WORKDIR /var/lib/cellkiosk
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CELLKIOSK_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python3", "-m", "cellkiosk.gateway"]

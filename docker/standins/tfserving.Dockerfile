# Stand-in for tensorflow/serving where no registry is reachable (and no TF Serving binary can be had):
# `tensorflow_model_server` is cellkiosk's PredictionService on the official serving protos
# (cellkiosk.inference.prediction_server), backed by the same SavedModels, with the same flags the
# compose file's TF Serving image passes. Built on the consumer image, which has TensorFlow.
ARG CONSUMER_IMAGE=cellkiosk/consumer:latest
FROM ${CONSUMER_IMAGE}
USER root
RUN printf '#!/bin/sh\nexec python3 -m cellkiosk.inference.prediction_server "$@"\n' \
      >/usr/local/bin/tensorflow_model_server \
 && chmod +x /usr/local/bin/tensorflow_model_server
USER 10001:10001
HEALTHCHECK NONE
ENTRYPOINT ["tensorflow_model_server"]

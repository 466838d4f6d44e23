"""The cellkiosk client: a Python API for notebooks and the ``cellkiosk submit/status/...`` commands.

It speaks only HTTP to a gateway, so it installs and runs without TensorFlow.
"""

from cellkiosk.client.api import Client, JobFailed
from cellkiosk.client.http import ApiError, ClientError, ServerUnreachable

__all__ = ["ApiError", "Client", "ClientError", "JobFailed", "ServerUnreachable"]

"""Parameters of the tracker, with units in their names; every one overridable per job.

The model lives in ``cellkiosk.core.params`` so the gateway can check per-job overrides
against it without importing the tracker; this module is its home for tracking code.
"""

from cellkiosk.core.params import TrackingParams

__all__ = ["TrackingParams"]

"""cellkiosk.postprocess."""

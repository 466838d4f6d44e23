"""cellkiosk.training."""

"""cellkiosk.tracking."""

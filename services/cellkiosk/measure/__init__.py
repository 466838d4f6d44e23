"""cellkiosk.measure."""

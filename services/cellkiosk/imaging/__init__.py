"""cellkiosk.imaging."""

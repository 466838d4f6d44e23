"""cellkiosk.core."""

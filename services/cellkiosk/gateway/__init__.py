"""cellkiosk.gateway."""

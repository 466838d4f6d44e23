"""cellkiosk.inference."""

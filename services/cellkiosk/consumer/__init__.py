"""cellkiosk.consumer."""

"""cellkiosk.gateway.routes."""

"""cellkiosk.autoscaler."""

"""cellkiosk.evaluation."""

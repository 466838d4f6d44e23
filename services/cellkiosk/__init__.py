"""cellkiosk: deep-learning analysis of microscopy images, from a laptop to a cluster."""

__version__ = "0.1.0"

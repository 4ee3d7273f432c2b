"""Contop: a self-hosted AI remote control for the desktop."""

__version__ = "0.1.0"

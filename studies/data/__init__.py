"""Data files shipped with the studies (read with importlib.resources)."""

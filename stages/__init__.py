"""Thin DVC stage entry points: read config, call ``a2d``, write outputs atomically."""

"""Renderers: a Report -> text (doctor style) or JSON."""

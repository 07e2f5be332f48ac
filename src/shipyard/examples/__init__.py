"""Shipped example projects: ``housing`` (regression on synthetic house prices)."""

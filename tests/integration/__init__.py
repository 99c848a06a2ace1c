"""Integration tier."""

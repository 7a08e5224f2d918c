"""Plots, run comparison and HTML reports."""

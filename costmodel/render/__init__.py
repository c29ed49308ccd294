"""Rendering: results as tables, JSON, CSV and Markdown (``text``), and plots (``plots``)."""

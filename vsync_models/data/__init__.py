"""Datasets and validation, the levels, prompt assembly (the only place that decides what a modality sees) and media views."""

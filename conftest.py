"""Loads the V-SYNC pytest plugin for every run started in this repository."""

pytest_plugins = ["fixtures.plugin"]

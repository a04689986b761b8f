"""Shared pytest configuration for fedgov's tests."""

from __future__ import annotations

import os

# Nothing in the test suite may reach the network or a hub.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

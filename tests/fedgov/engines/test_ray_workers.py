"""Ray's workers, as the embedded engine sets them up."""

from __future__ import annotations

import logging

import pytest

from fedgov.engines._ray_workers import setup_worker


def test_a_worker_drops_flowers_shutdown_notice_and_keeps_other_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange
    flwr_logger = logging.getLogger("flwr")
    filters = list(flwr_logger.filters)
    setup_worker()

    # Act
    with caplog.at_level(logging.WARNING, logger="flwr"):
        flwr_logger.warning("Manually terminating %s", "ClientAppActor")
        flwr_logger.warning("Actor %s died", "ClientAppActor")
    flwr_logger.filters[:] = filters

    # Assert
    assert [r.getMessage() for r in caplog.records] == ["Actor ClientAppActor died"]

"""Unit tests: pure domain code, no network at all."""

import pytest_socket


def pytest_runtest_setup():
    pytest_socket.disable_socket()


def pytest_runtest_teardown():
    pytest_socket.enable_socket()

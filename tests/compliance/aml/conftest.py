"""The payments stack (api on uvicorn + provider simulators) for AML flows."""

from tests.payments.conftest import payments, stack

__all__ = ["payments", "stack"]

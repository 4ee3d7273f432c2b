from tests.transport.conftest import server

__all__ = ["server"]

"""Entity Runtime: a REST API generated from entity definitions stored in MongoDB."""

from runtime.app import create_app

__all__ = ["create_app"]

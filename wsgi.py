"""gunicorn entry point: ``gunicorn wsgi:app``."""

from runtime import create_app

app = create_app()

"""CSV import and export of records (``/data/{entity}/import``, ``/data/{entity}/export``), run as jobs."""

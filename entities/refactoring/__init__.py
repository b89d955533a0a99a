"""Refactorings: a definition change that affects stored data is planned, checked, previewed and run as a job."""

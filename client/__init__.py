"""A Python client for a running Entity Runtime server (``requests``-based).

    from client import Client
    api = Client.login("http://127.0.0.1:8080/api", "admin@example.com", "secret")
    for company in api.records("companies").list(state="active"):
        print(company["name"])
"""

from client.api import ApiError, Client, JobFailed, Jobs, Records

__all__ = ["ApiError", "Client", "JobFailed", "Jobs", "Records"]

"""Job worker entry point (the jobs package fills this in)."""


def run_worker(burst: bool = False) -> None:
    raise SystemExit("The job worker is not available yet")

"""Scheduled jobs: cron schedules stored in ``sys.schedules``, fired by a clock as ``SCHEDULE`` jobs."""

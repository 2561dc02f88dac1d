"""Recurring jobs: cron schedules kept in Redis, fired exactly once per fire time by any number of
schedulers (see :mod:`benchfarm.schedules.loop` for why it is built so)."""

"""Unattended drift reports: ``[[report]]`` entries run on a cron schedule, kept in a drift history,
alerting on verdict changes and threshold crossings."""

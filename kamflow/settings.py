"""Settings from the environment (KAMFLOW_*) or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAMFLOW_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///kamflow.db"
    # Folder of playbooks `kamflow init` loads; empty means the bundled defaults.
    playbook_dir: Path | None = None
    # The web app (kamflow.web): the key session cookies are signed with (empty: a key kept in
    # the database), Secure cookies (set true behind https), session length, open /metrics.
    secret_key: SecretStr | None = None
    cookie_secure: bool = False
    session_hours: float = 12.0
    metrics_public: bool = False
    # Notifications (kamflow.notify): the SMTP server for the email channel, a folder of
    # templates searched before the bundled ones, and the file the log channel appends to
    # (empty: the `kamflow.notifications` logger).
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "kamflow@localhost"
    template_dir: Path | None = None
    log_channel_path: Path | None = None
    # Unattended running (kamflow.jobs.registry, kamflow.jobs.scheduler): a crontab expression
    # (UTC) per job, or "off"; empty means the job's default schedule.
    schedule_sweep: str | None = None
    schedule_escalation: str | None = None
    schedule_digests: str | None = None
    schedule_deliver: str | None = None
    # Missed moments younger than this are caught up (as one run); older ones are skipped.
    schedule_grace_hours: float = 6.0
    scheduler_tick_seconds: float = 30.0  # how often the scheduler looks for due jobs
    scheduler_standby_seconds: float = 5.0  # how often a standby scheduler retries the lock

"""Settings from the environment (KAMFLOW_*) or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAMFLOW_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///kamflow.db"
    # Folder of playbooks `kamflow init` loads; empty means the bundled defaults.
    playbook_dir: Path | None = None

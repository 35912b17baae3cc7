"""How jobs run unattended: the registry, the embedded scheduler, the Prefect flows."""

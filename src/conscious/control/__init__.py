"""The control plane's own parts: live events, status, health, metrics, logs, terminal, systemd."""

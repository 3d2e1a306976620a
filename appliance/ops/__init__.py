"""Operations: systemd notify and watchdog, the metrics endpoint, backup and restore, offline switches."""

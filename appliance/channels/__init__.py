"""Channels: where conversations come from (SIP, web, files). Submodules import their heavy
dependencies themselves; nothing is imported here."""

"""The web chat channel: an aiohttp server with a static page and a WebSocket."""

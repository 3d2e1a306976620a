"""Shared model services: STT and TTS loaded once per box, used by every SIP worker over a Unix socket.

``protocol`` (typed messages, frames), ``batch`` (batched Whisper), ``server`` (the service
process), ``client`` (STT/TTS engines that talk to it). The daemon side that starts and restarts
the services lives in ``appliance/ops/model_services.py``.
"""

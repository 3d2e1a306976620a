"""The SIP channel: a pjsua2 endpoint in its own thread, per-call audio bridges, and a pipecat
transport so the voice pipeline runs unchanged over phone calls. See docs/SIP.md."""

from appliance.channels.sip.sipmsg import caller_id_from_invite

__all__ = ["caller_id_from_invite"]

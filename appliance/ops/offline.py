"""Nothing leaves the box: the offline switches of the libraries ``appliance run`` uses.

Set by the daemon itself, first thing, before any of those libraries is imported (they read
their switches at import time), so a checkout run by hand is as offline as the systemd unit.
SIP workers and the LLM worker inherit the environment. ``appliance models fetch`` (the one
command that downloads) does not call this. tests/integration/test_egress.py proves the result
with strace in a network namespace that has only loopback.
"""

from __future__ import annotations

import os

# Each one keeps a library from phoning home: model hubs (huggingface_hub, transformers,
# datasets; faster-whisper and pipecat's smart-turn load through huggingface_hub), their
# telemetry, and the generic "do not track" convention other libraries honour.
# ORT_DISABLE_TELEMETRY: onnxruntime >= 1.29 sends 1DS telemetry from Linux too (found by
# tests/integration/test_egress.py: DNS queries for mobile.events.data.microsoft.com from Silero
# VAD's and Piper's sessions); it must be set before onnxruntime initializes, and is latched.
OFFLINE_ENV: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
}


def apply(environ: dict[str, str] | os._Environ[str] | None = None) -> dict[str, str]:
    """Force the offline switches into ``environ`` (default: this process). Returns what changed."""
    env = os.environ if environ is None else environ
    changed = {k: v for k, v in OFFLINE_ENV.items() if env.get(k) != v}
    env.update(OFFLINE_ENV)
    return changed

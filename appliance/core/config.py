"""Layered, validated configuration.

Layers, later wins: the embedded ``config/default.toml`` <- the system file
(``/etc/appliance/appliance.toml`` when present, or the file given with
``--config``, which must exist) <- environment variables
``APPLIANCE__SECTION__KEY=value`` (values parsed as TOML literals when they
parse, else taken as strings).

Every error names the file (or environment variable) and the dotted key, so
``appliance config check`` can print one line and exit 2.

Why this module is long (~600 lines, over the ~450 guideline, on purpose): it is the whole
configuration schema, one small pydantic model per ``[section]`` of ``config/default.toml``,
plus the loader that layers and validates them. Keeping the schema in one file keeps it
reviewable side by side with ``default.toml`` (one place to see every key, its type, default
and bounds), lets the cross-section validators on ``Config`` see every section without import
cycles, and keeps ``core`` (the bottom layer that everything imports) a single flat module.
Splitting it per section would scatter the schema without separating any concerns: each
model is a few declarative lines, and the loader is only meaningful together with them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from appliance.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "config" / "default.toml"
SYSTEM_CONFIG = Path("/etc/appliance/appliance.toml")
ENV_PREFIX = "APPLIANCE__"

_LANG_RE = re.compile(r"^[a-z]{2}$")
_HOURS_RE = re.compile(r"^(closed|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LocalizedText = dict[str, str]


class RetentionConfig(_Model):
    """How long each kind of personal data is kept, in days (docs/PRIVACY.md). 0: never kept past
    the next retention run. Recordings go after the shorter of ``recordings_days`` and
    ``sip.recording_retention_days``."""

    recordings_days: int | None = Field(default=None, ge=0)
    turns_days: int = Field(default=180, ge=0)  # transcripts: the text of every turn
    timelines_days: int = Field(default=30, ge=0)  # per-turn latency timelines
    sessions_days: int = Field(default=180, ge=0)  # conversation sessions (their dialogue state)
    callback_tickets_days: int = Field(default=90, ge=0)
    logs_days: int = Field(default=14, ge=0)  # files of logging.file (journald: docs/PRIVACY.md)
    backups_days: int = Field(default=30, ge=0)  # ``backup create`` archives in data_dir/backups
    sms_days: int = Field(default=90, ge=0)  # texts received (sms_inbound) and sent (outbox, once settled)


class PrivacyConfig(_Model):
    """Per tenant: erasure and retention of personal data (appliance/privacy, docs/PRIVACY.md)."""

    # true: an erased caller's bookings stay for the books with name, phone and pet anonymised;
    # false: they are deleted.
    keep_bookings_for_accounting: bool = True
    retention: RetentionConfig = Field(default_factory=RetentionConfig)


class TenantConfig(_Model):
    id: str = "demo"
    name: str = "Demo Pet Hotel"
    languages: list[str] = Field(default_factory=lambda: ["en", "et", "ru"], min_length=1)
    default_language: str = "en"
    timezone: str = "Europe/Tallinn"
    currency: str = "EUR"
    phone_region: str = "EE"
    transfer_extension: str = "100"
    pet_types: list[str] = Field(default_factory=lambda: ["dog", "cat"], min_length=1)
    # the first words of a call or chat: "default" (the default language only) or "multilingual"
    # (hello in every tenant language, "Hello! Tere! Здравствуйте!", then the default language)
    greeting: Literal["default", "multilingual"] = "default"
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    # a Unix group: when set, only its members (and api.admin_group) see and act for this business
    # in the console and the staff CLI; empty: every member of api.group (docs/CONSOLE.md)
    staff_group: str = ""

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: list[str]) -> list[str]:
        for code in v:
            if not _LANG_RE.match(code):
                raise ValueError(f"{code!r} is not an ISO 639-1 language code")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", v):
            raise ValueError("currency must be a 3-letter ISO 4217 code")
        return v

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z]{2}", v):
            raise ValueError("phone_region must be a 2-letter ISO 3166 region code")
        return v

    @model_validator(mode="after")
    def _default_in_languages(self) -> TenantConfig:
        if self.default_language not in self.languages:
            raise ValueError(f"default_language: {self.default_language!r} is not in languages")
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ResourceConfig(_Model):
    """A bookable kind of room (e.g. dog rooms), with how many exist."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: LocalizedText
    pet_types: list[str] = Field(min_length=1)
    capacity: int = Field(ge=0)


class PriceRule(_Model):
    pet_type: str
    per_night: Decimal = Field(ge=0)


class Surcharge(_Model):
    """An optional extra, e.g. weekend nights or a peak season."""

    id: str
    name: LocalizedText
    kind: Literal["weekend_night", "date_range", "per_stay"] = "weekend_night"
    amount: Decimal = Field(ge=0)
    pet_types: list[str] = Field(default_factory=list)  # empty: all
    start: dt.date | None = None  # date_range only
    end: dt.date | None = None


class PricingConfig(_Model):
    rules: list[PriceRule] = Field(default_factory=list)
    surcharges: list[Surcharge] = Field(default_factory=list)


class BookingRules(_Model):
    max_stay_nights: int = Field(default=30, ge=1)
    max_advance_days: int = Field(default=365, ge=1)
    min_lead_days: int = Field(default=0, ge=0)
    alternatives_search_days: int = Field(default=30, ge=1)


class BookingsConfig(_Model):
    """Staff approval of bookings (docs/CONSOLE.md): with require_approval the brain commits a booking
    as ``held`` (capacity reserved) and staff approve or decline it; unanswered holds expire."""

    require_approval: bool = False
    hold_expiry_minutes: int = Field(default=240, ge=1)


class OpeningHours(_Model):
    mon: str = "08:00-18:00"
    tue: str = "08:00-18:00"
    wed: str = "08:00-18:00"
    thu: str = "08:00-18:00"
    fri: str = "08:00-18:00"
    sat: str = "10:00-16:00"
    sun: str = "closed"

    @model_validator(mode="after")
    def _format(self) -> OpeningHours:
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            if not _HOURS_RE.match(getattr(self, day)):
                raise ValueError(f"{day}: use 'HH:MM-HH:MM' or 'closed'")
        return self


class StoreConfig(_Model):
    data_dir: str = "./data"
    db_file: str = "appliance.db"
    busy_timeout_ms: int = Field(default=30000, ge=0)


class ToolsConfig(_Model):
    backend: Literal["local", "http"] = "local"
    http_url: str = ""
    http_token: str = ""
    timeout_s: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=5)
    backoff_base_s: float = Field(default=0.2, ge=0)
    backoff_max_s: float = Field(default=2.0, ge=0)
    slow_notice_s: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _http_url(self) -> ToolsConfig:
        if self.backend == "http" and not self.http_url:
            raise ValueError("http_url is required when backend = 'http'")
        return self


class LanguageConfig(_Model):
    confidence: float = Field(default=0.85, gt=0, le=1)
    word_budget: int = Field(default=8, ge=1)
    switch_min_words: int = Field(default=3, ge=1)


class LLMConfig(_Model):
    # off: rules only. auto: use the model when it is present, else run degraded.
    # process/thread: require the model; it runs in a supervised worker process
    # (a crash costs one request, not the daemon) or a worker thread.
    # server: an OpenAI-compatible server at base_url (llama.cpp, vLLM; docs/LLM.md).
    mode: Literal["off", "auto", "process", "thread", "server"] = "auto"
    model: str = ""  # path to a GGUF; empty: the manifest's "llm" role. server: the served model name (empty: ask)
    base_url: str = ""  # server mode: e.g. http://127.0.0.1:8000/v1 (an IP address: no DNS lookups)
    api_key: str = ""  # server mode: sent as a Bearer token when set
    schema_format: Literal["auto", "json_schema", "json_object"] = "auto"  # server mode: response_format spelling
    timeout_s: float = Field(default=4.0, gt=0)
    context: int = Field(default=2048, ge=256)
    threads: int = Field(default=2, ge=1)
    max_tokens: int = Field(default=256, ge=16)

    @model_validator(mode="after")
    def _server(self) -> LLMConfig:
        if self.mode == "server":
            check_server_url(self.base_url)
        return self


def check_server_url(url: str) -> None:
    """``llm.base_url``: http(s) to an IP address literal, so that using it needs no DNS lookup."""
    import ipaddress
    from urllib.parse import urlsplit

    if not url:
        raise ValueError("base_url: required when mode = 'server' (e.g. http://127.0.0.1:8000/v1)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url: use http://IP:PORT/v1, not {url!r}")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        raise ValueError(f"base_url: the host must be an IP address (no DNS lookups), not {url!r}") from None


class ModelsConfig(_Model):
    dir: str = ""  # empty: $APPLIANCE_MODELS_DIR, /var/lib/appliance/models, or <repo>/models/cache


class KnowledgeConfig(_Model):
    dir: str = "config/kb"
    db_file: str = "knowledge.db"  # the derived index under store.data_dir ([[tenants]]: knowledge-<id>.db)
    embedding_model: str = ""  # GGUF path or manifest role; empty: FTS only
    chunk_chars: int = Field(default=600, ge=100)
    top_k: int = Field(default=3, ge=1)


class DiarizationConfig(_Model):
    """Speaker diarization of recorded calls (pyannote-audio in its own environment; docs/INSTALL.md).

    After a recorded call ends, a background job runs the worker (``engines/diarize_worker.py``)
    with ``python`` at low priority, one call at a time, never during the call it is about."""

    enabled: bool = False
    python: str = ""  # the isolated environment's interpreter; empty: <repo>/.venv-diarize/bin/python
    # a local pipeline folder (config.yaml + models); empty: <models dir>/diarization (the manifest's
    # pyannote/speaker-diarization-community-1, `appliance models fetch diarization`)
    pipeline: str = ""
    segmentation: str = ""  # or: a segmentation checkpoint ...
    embedding: str = ""  # ... an embedding checkpoint ...
    plda: str = ""  # ... and a PLDA folder (xvec_transform.npz, plda.npz) for VBx clustering
    num_speakers: int = Field(default=0, ge=0)  # 0: let the pipeline decide
    max_speakers: int = Field(default=4, ge=1)
    nice: int = Field(default=19, ge=0, le=19)
    timeout_s: float = Field(default=900.0, gt=0)
    threads: int = Field(default=1, ge=1)


class WebConfig(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_message_chars: int = Field(default=2000, ge=10)


class ApiConfig(_Model):
    socket: str = ""  # empty: <data_dir>/appliance.sock
    group: str = "appliance-staff"  # the socket's group (mode 0660); staff join it (docs/CONSOLE.md)
    admin_group: str = "appliance-admin"  # its members see every tenant, whatever their staff_group
    max_request_bytes: int = Field(default=65536, ge=1024)
    client_queue: int = Field(default=1000, ge=10)  # events buffered per client before it is dropped


class SipAccount(_Model):
    id: str
    registrar: str = ""
    username: str = ""
    password: str = ""
    domain: str = ""


class SipCredential(_Model):
    """A username/password a peer must prove (inbound digest authentication)."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


class SipConfig(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    udp_port: int = Field(default=5060, ge=0, le=65535)
    tcp_port: int = Field(default=5060, ge=0, le=65535)
    allowed_sources: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    accounts: list[SipAccount] = Field(default_factory=list)
    max_calls: int = Field(default=3, ge=1)  # this pjsua2 build handles 4 calls per process (docs/SIP.md)
    # Inbound digest auth for direct trunk calls: when set, an INVITE must carry valid credentials
    # (401 challenge without them, 403 with wrong ones), in addition to coming from allowed_sources.
    inbound_auth: list[SipCredential] = Field(default_factory=list)
    auth_realm: str = "appliance"
    over_capacity: Literal["busy", "callback"] = "callback"
    answer_delay_s: float = Field(default=0.5, ge=0)
    rtp_silence_timeout_s: float = Field(default=60.0, gt=0)
    max_call_s: float = Field(default=900.0, gt=0)
    # the caller says nothing while the appliance waits: re-prompt after this long (0: never),
    # at most no_input_reprompts times, then end the call (appliance/voice/supervision.py)
    no_input_reprompt_s: float = Field(default=15.0, ge=0)
    no_input_reprompts: int = Field(default=2, ge=0)
    record: bool = True
    recording_retention_days: int = Field(default=30, ge=0)
    # > 1: a SIP proxy on host:udp_port spreads calls over this many worker processes (each one
    # pjsua2 endpoint holding at most 3 lines + 1 overflow slot); max_calls is then the total.
    workers: int = Field(default=1, ge=1, le=64)
    # a clean stop with calls (SIGTERM): turns in flight stored, goodbye heard, hung up, all
    # within this from the stop (voice/stopbudget.py); the daemon's close comes after it, and
    # both fit in the systemd unit's TimeoutStopSec (30)
    stop_timeout_s: float = Field(default=20.0, gt=0, le=120)


SmsTransportName = Literal["kannel", "sip"]


class SmsConfig(_Model):
    """The SMS channel and the outbox (docs/SMS.md). Off by default: a gateway must be set up."""

    enabled: bool = False
    transports: list[SmsTransportName] = Field(default_factory=lambda: list[SmsTransportName](["kannel"]))
    outbound_transport: SmsTransportName = "kannel"  # confirmations and reminders go this way
    session_window_min: float = Field(default=1440, gt=0)  # a text within this resumes the conversation
    max_segments: int = Field(default=4, ge=1, le=10)  # longer replies are shortened to fit
    inbound_per_minute: int = Field(default=10, ge=1)  # per number; more are stored, not answered
    inbound_per_hour: int = Field(default=60, ge=1)
    outbound_per_hour: int = Field(default=30, ge=1)  # per number, whatever the kind
    # confirmations: after a booking made by SMS always; made by web or phone only with this on
    confirm_other_channels: bool = False
    confirmations: bool = True
    reminder_hours: float = Field(default=24, ge=0)  # before check-in; 0: no reminders
    checkin_time: str = "12:00"  # local time of day a stay starts (for reminders)
    approvals: bool = True  # text the decision when staff approve or decline a held booking
    retry_base_s: float = Field(default=30, gt=0)  # backoff: base * 2**(attempt-1), capped
    retry_max_s: float = Field(default=3600, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # Kannel: smsbox posts received texts to http://listen_host:listen_port/sms/kannel
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=13080, ge=0, le=65535)
    kannel_sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = ""
    kannel_password: str = ""
    kannel_smsc: str = ""  # route outbound texts to one smsc-id (empty: Kannel decides)
    sender: str = ""  # our number or short code (the From of outbound texts)
    sip_domain: str = ""  # SIP MESSAGE to a bare number goes to sip:NUMBER@sip_domain

    @field_validator("sender", "kannel_password", mode="before")
    @classmethod
    def _digits_are_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # APPLIANCE__SMS__SENDER=1345

    @field_validator("checkin_time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("want HH:MM")
        return v


class CallingHours(OpeningHours):
    """When the appliance may call a customer (local time, ``HH:MM-HH:MM`` or ``closed``)."""

    mon: str = "09:00-19:00"
    tue: str = "09:00-19:00"
    wed: str = "09:00-19:00"
    thu: str = "09:00-19:00"
    fri: str = "09:00-19:00"
    sat: str = "10:00-16:00"
    sun: str = "closed"


class CallbacksConfig(_Model):
    """Automatic outbound callbacks (docs/SMS.md, "What is sent and called when"): a callback
    ticket made because the booking backend or a speech engine failed is called back by the
    appliance once that part is healthy again. Off by default: it needs a dial plan (``dial_uri``)."""

    auto: bool = False  # staff turn automatic callbacks on or off for this tenant
    dial_uri: str = ""  # e.g. "sip:{number}@pbx.example.com" ({number}: the ticket's phone, + and digits)
    account: str = ""  # a sip.accounts id to call through (a PBX account); "" = the local trunk account
    calling_hours: CallingHours = Field(default_factory=CallingHours)
    max_attempts: int = Field(default=3, ge=1, le=10)
    first_delay_s: float = Field(default=60, ge=0)  # after the ticket was made, at the earliest
    spacing_s: float = Field(default=1800, ge=0)  # after an unanswered/busy attempt; doubles per attempt
    spacing_max_s: float = Field(default=4 * 3600, ge=0)
    max_age_h: float = Field(default=48, gt=0)  # older tickets are left to staff
    probe_base_s: float = Field(default=15, gt=0)  # health probe backoff: base * 2**failures, capped
    probe_max_s: float = Field(default=600, gt=0)
    ring_timeout_s: float = Field(default=30, gt=0)  # no answer by then: hang up, "no_answer"
    check_interval_s: float = Field(default=30, gt=0)  # how often open tickets are looked at

    @field_validator("dial_uri")
    @classmethod
    def _dial(cls, v: str) -> str:
        if v and ("{number}" not in v or not v.startswith(("sip:", "sips:"))):
            raise ValueError("dial_uri: want a SIP URI with {number}, e.g. 'sip:{number}@pbx.example.com'")
        return v

    @model_validator(mode="after")
    def _dial_plan(self) -> CallbacksConfig:
        if self.auto and not self.dial_uri:
            raise ValueError("auto = true needs dial_uri (how to reach a number through the PBX or trunk)")
        return self


class VoiceConfig(_Model):
    stt_model: str = ""
    # per-language STT (docs/MODELS.md): language -> a manifest role or a path, e.g. { et = "stt-et" };
    # the general model detects the language and serves the others
    stt_models: dict[str, str] = Field(default_factory=dict)
    tts_voices: dict[str, str] = Field(default_factory=dict)  # language -> piper .onnx
    end_of_turn_silence_s: float = Field(default=0.5, gt=0)
    # adaptive end of turn: end after this much silence when the speculative transcript looks
    # finished (docs/VOICE.md); 0 switches it off (every turn waits end_of_turn_silence_s)
    end_of_turn_short_silence_s: float = Field(default=0.12, ge=0)
    # who ends a turn early (docs/VOICE.md, "Turn strategies"): "silence" (adaptive: a finished-looking
    # speculative transcript ends it after end_of_turn_short_silence_s), "fixed" (always
    # end_of_turn_silence_s), "smart_turn" (pipecat's bundled smart-turn model judges the audio)
    turn_strategy: Literal["silence", "fixed", "smart_turn"] = "silence"
    backchannel_max_s: float = Field(default=0.3, ge=0)
    # supervised engines (appliance/engines/supervised.py): a speech-to-text or TTS call that takes
    # longer fails, the caller hears the apology + keypad menu recorded at start, the engine restarts
    stt_timeout_s: float = Field(default=1.2, gt=0)
    tts_timeout_s: float = Field(default=1.2, gt=0)
    brain_timeout_s: float = Field(default=12.0, gt=0)  # then the apology + keypad menu too
    # the same caller ID calling back within this long after leaving a booking unfinished is
    # offered to continue it (brain/engine.py, Engine.greet); 0 switches it off
    resume_window_s: float = Field(default=1800.0, ge=0)


class ServicesConfig(_Model):
    """Shared model services (appliance/engines/service/, docs/CAPACITY.md): STT and TTS each in one
    process serving every SIP worker over a Unix socket, the LLM on one local llama_cpp.server."""

    # auto: on whenever the daemon runs the SIP channel (any sip.workers): a native crash in an
    # engine then costs the calls one apology, not the daemon; the LLM goes to the shared server
    # only with sip.workers > 1 (with one process it keeps its own supervised worker process,
    # docs/CAPACITY.md, 4a). on: the LLM server also with one process, and the services also for
    # `appliance run` without SIP. off: every process loads its own models (the one-call demo).
    # `appliance call` (WAV files) always loads its own engines.
    mode: Literal["auto", "on", "off"] = "auto"
    stt_max_batch: int = Field(default=8, ge=1, le=64)  # utterances decoded in one model call
    stt_batch_window_ms: float = Field(default=10.0, ge=0)  # after a request, wait this long for others
    tts_workers: int = Field(default=2, ge=1)  # syntheses at a time
    llm_port: int = Field(default=0, ge=0, le=65535)  # the shared llama_cpp.server on 127.0.0.1 (0: a free port)
    socket_dir: str = ""  # empty: <data_dir>/run
    request_timeout_s: float = Field(default=15.0, gt=0)  # a client gives up on a request after this

    def active(self, sip_enabled: bool) -> bool:
        """Whether ``appliance run`` starts the services (``sip_enabled``: it runs the SIP channel)."""
        return self.mode == "on" or (self.mode == "auto" and sip_enabled)

    def shared_llm(self, sip_workers: int) -> bool:
        """Whether the LLM goes to the shared llama_cpp.server (with the services active)."""
        return self.mode == "on" or sip_workers > 1


class MetricsConfig(_Model):
    """The Prometheus endpoint of ``appliance run`` (docs/INSTALL.md, "Metrics")."""

    enabled: bool = True
    host: str = "127.0.0.1"  # loopback: put a reverse proxy or an SSH tunnel in front to scrape remotely
    port: int = Field(default=9464, ge=0, le=65535)


class LoggingConfig(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    # also write the log to this file (relative: under store.data_dir), rotated at midnight and
    # kept tenant.privacy.retention.logs_days days; empty: stderr only (journald under systemd)
    file: str = ""


class TenantSite(TenantConfig):
    """One more business on this box (``[[tenants]]``, docs/PRIVACY.md "Tenancy"): its own
    name, languages, timezone, resources, prices, knowledge base and transfer extension, and
    what routes a call or a chat to it. The top-level ``[tenant]`` stays the default tenant."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")  # required: rows are keyed by it
    resources: list[ResourceConfig] = Field(default_factory=list)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    knowledge_dir: str = ""  # empty: <knowledge.dir>/<id>
    sip_dids: list[str] = Field(default_factory=list)  # called numbers (To / Request-URI user)
    sip_accounts: list[str] = Field(default_factory=list)  # sip.accounts ids whose calls are this tenant's
    # numbers texts to which are this tenant's (besides its sip_dids); the first is the number its
    # texts are sent from (none: its first sip_dids entry, else the box's sms.sender); docs/SMS.md
    sms_numbers: list[str] = Field(default_factory=list)
    web_path: str = ""  # empty: /t/<id>/
    web_hosts: list[str] = Field(default_factory=list)  # Host names whose chat page is this tenant's
    # this tenant's changes to the top-level [callbacks] (e.g. auto = false, its calling_hours);
    # the rest (the trunk's dial_uri, attempts) is the box's
    callbacks: dict[str, Any] = Field(default_factory=dict)

    @field_validator("web_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if v and not re.fullmatch(r"/(?:[A-Za-z0-9_-]+/)+", v):
            raise ValueError("web_path: use /segment/.../ (letters, digits, - and _; leading and trailing /)")
        return v

    @property
    def chat_path(self) -> str:
        return self.web_path or f"/t/{self.id}/"


class Config(_Model):
    tenant: TenantConfig = Field(default_factory=TenantConfig)
    tenants: list[TenantSite] = Field(default_factory=list)  # more businesses ([tenant] is the default)
    resources: list[ResourceConfig] = Field(default_factory=list)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    booking: BookingRules = Field(default_factory=BookingRules)
    bookings: BookingsConfig = Field(default_factory=BookingsConfig)
    opening_hours: OpeningHours = Field(default_factory=OpeningHours)
    store: StoreConfig = Field(default_factory=StoreConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    diarization: DiarizationConfig = Field(default_factory=DiarizationConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    sip: SipConfig = Field(default_factory=SipConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        offered = set(self.tenant.pet_types)
        for i, res in enumerate(self.resources):
            for pet in res.pet_types:
                if pet not in offered:
                    raise ValueError(f"resources[{i}].pet_types: {pet!r} is not in tenant.pet_types")
        priced = {r.pet_type for r in self.pricing.rules}
        for pet in offered:
            if self.resources and pet not in priced:
                raise ValueError(f"pricing.rules: no price for pet type {pet!r}")
        from appliance.core.tenancy import check_sites

        check_sites(self)
        return self

    # -- derived paths ---------------------------------------------------------

    @property
    def data_path(self) -> Path:
        return Path(self.store.data_dir).expanduser().resolve()

    @property
    def services_path(self) -> Path:
        """The model services' Unix sockets (services.socket_dir, default <data_dir>/run)."""
        return Path(self.services.socket_dir).expanduser() if self.services.socket_dir else self.data_path / "run"

    @property
    def db_path(self) -> Path:
        return self.data_path / self.store.db_file

    @property
    def api_socket(self) -> Path:
        return Path(self.api.socket) if self.api.socket else self.data_path / "appliance.sock"

    def for_tenant(self, tenant_id: str) -> Config:
        """This config as tenant ``tenant_id`` sees it (appliance/core/tenancy.py)."""
        from appliance.core.tenancy import tenant_view

        return tenant_view(self, tenant_id)

    @property
    def tenant_ids(self) -> list[str]:
        """Every tenant on this box, the default (``[tenant]``) first."""
        return [self.tenant.id, *(t.id for t in self.tenants)]

    @property
    def kb_path(self) -> Path:
        p = Path(self.knowledge.dir)
        return p if p.is_absolute() else (REPO_ROOT / p)

    def resource(self, resource_id: str) -> ResourceConfig | None:
        return next((r for r in self.resources if r.id == resource_id), None)

    def resources_for(self, pet_type: str) -> list[ResourceConfig]:
        return [r for r in self.resources if pet_type in r.pet_types]


# --- loading -------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None


def _merge(base: dict[str, Any], over: dict[str, Any], origin: dict[str, str], source: str, prefix: str = "") -> None:
    """Deep-merge ``over`` into ``base``, recording which source set each key."""
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            origin.setdefault(dotted, source)
            _merge(base[key], value, origin, source, dotted + ".")
        else:
            base[key] = value
            origin[dotted] = source
            for k in [k for k in origin if k.startswith(dotted + ".")]:
                origin[k] = source


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``APPLIANCE__WEB__PORT=9000`` -> ``{"web": {"port": 9000}}``."""
    layer: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = layer
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError("conflicts with another variable", file=f"env {name}", key=".".join(parts))
        node[parts[-1]] = value
        names[".".join(parts)] = f"env {name}"
    return layer, names


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _origin_of(key: str, origin: dict[str, str], fallback: str) -> str:
    probe = re.sub(r"\[\d+\]", "", key)
    while probe:
        if probe in origin:
            return origin[probe]
        probe = probe.rpartition(".")[0]
    return fallback


def load_config(
    path: str | Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    use_system: bool = True,
) -> Config:
    """Load and validate the layered configuration.

    ``path`` is the ``--config`` file (must exist). Without it the system file is
    used when it exists. ``overrides`` (e.g. ``{"store": {"data_dir": ...}}``)
    come from command-line flags and win over everything.
    """
    environ = dict(os.environ if environ is None else environ)
    origin: dict[str, str] = {}
    data: dict[str, Any] = {}
    _merge(data, _read_toml(DEFAULT_CONFIG), origin, str(DEFAULT_CONFIG))
    if path is None and environ.get("APPLIANCE_CONFIG"):
        path = environ["APPLIANCE_CONFIG"]
    if path is not None:
        p = Path(path)
        _merge(data, _read_toml(p), origin, str(p))
    elif use_system and SYSTEM_CONFIG.is_file():
        _merge(data, _read_toml(SYSTEM_CONFIG), origin, str(SYSTEM_CONFIG))
    env_layer, env_names = _env_layer(environ)
    _merge(data, env_layer, origin, "environment")
    origin.update(env_names)
    if overrides:
        _merge(data, overrides, origin, "command line")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _loc_to_key(tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
            # cross-field validators name the key inside the message
            m = re.match(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$", msg)
            if m:
                key = f"{key}.{m.group(1)}" if key else m.group(1)
                msg = m.group(2)
        source = _origin_of(key, origin, str(path or DEFAULT_CONFIG))
        if "input" in err and err["type"] not in ("extra_forbidden", "missing") and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        raise ConfigError(msg, file=source, key=key or None) from None


def dump_config(cfg: Config) -> dict[str, Any]:
    """The effective config as plain data (secrets masked)."""
    data = cfg.model_dump(mode="json")
    if data["tools"].get("http_token"):
        data["tools"]["http_token"] = "***"
    if data["llm"].get("api_key"):
        data["llm"]["api_key"] = "***"
    for acc in data["sip"].get("accounts", []):
        if acc.get("password"):
            acc["password"] = "***"
    return data

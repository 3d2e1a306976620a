from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.config import DEFAULT_CONFIG, dump_config, load_config
from appliance.core.errors import ConfigError


def test_embedded_defaults_load() -> None:
    cfg = load_config(environ={}, use_system=False)
    assert cfg.tenant.languages == ["en", "et", "ru"]
    assert {r.id for r in cfg.resources} == {"dog-room", "cat-room"}
    assert cfg.resources_for("dog")[0].capacity == 3


def test_layers_file_then_env(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text('[web]\nport = 9001\n[tenant]\nname = "Clinic"\n')
    cfg = load_config(f, environ={"APPLIANCE__WEB__PORT": "9002"})
    assert cfg.web.port == 9002
    assert cfg.tenant.name == "Clinic"
    assert cfg.tenant.currency == "EUR"


@pytest.mark.parametrize(
    ("body", "key", "what"),
    [
        ("[web]\nport = 'eighty'\n", "web.port", "integer"),
        ("[web]\nprot = 1\n", "web.prot", "unknown key"),
        ("[tenant]\ntimezone = 'Mars/Base'\n", "tenant.timezone", "unknown timezone"),
        ("[tenant]\ndefault_language = 'fi'\n", "tenant", "default_language"),
        ("[web\n", None, "invalid TOML"),
    ],
)
def test_broken_config_names_file_and_key(tmp_path: Path, body: str, key: str | None, what: str) -> None:
    f = tmp_path / "broken.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as exc:
        load_config(f, environ={})
    msg = str(exc.value)
    assert str(f) in msg
    if key:
        assert key in msg
    assert what in msg
    assert "\n" not in msg


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config("/nonexistent/appliance.toml", environ={})


def test_env_error_names_variable() -> None:
    with pytest.raises(ConfigError, match="env APPLIANCE__WEB__PORT: web.port"):
        load_config(environ={"APPLIANCE__WEB__PORT": "x"}, use_system=False)


def test_secrets_masked() -> None:
    cfg = load_config(environ={"APPLIANCE__TOOLS__HTTP_TOKEN": "s3cret"}, use_system=False)
    assert dump_config(cfg)["tools"]["http_token"] == "***"


def test_default_file_is_shipped() -> None:
    assert DEFAULT_CONFIG.is_file()


@pytest.mark.parametrize("body", ["[web]\nport = 'x'\n", "[nope]\na = 1\n"])
def test_cli_config_check_exit_2(tmp_path: Path, body: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(body)
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "check", "--config", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(f) in lines[0]


def test_cli_config_check_ok(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "check", "--data-dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"tenant"' in proc.stdout


@pytest.mark.parametrize("strategy", ["silence", "fixed", "smart_turn"])
def test_turn_strategy_loads(tmp_path: Path, strategy: str) -> None:
    f = tmp_path / "voice.toml"
    f.write_text(f'[voice]\nturn_strategy = "{strategy}"\n')
    assert load_config(f, environ={}).voice.turn_strategy == strategy
    assert load_config(environ={}, use_system=False).voice.turn_strategy == "silence"  # the default


def test_unknown_turn_strategy_names_key(tmp_path: Path) -> None:
    f = tmp_path / "voice.toml"
    f.write_text('[voice]\nturn_strategy = "vibes"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(f, environ={})
    assert "voice.turn_strategy" in str(exc.value)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("", "required when mode = 'server'"),
        ("http://localhost:8000/v1", "must be an IP address (no DNS lookups)"),
        ("gpu.example.org:8000", "use http://IP:PORT/v1"),
    ],
)
def test_llm_server_url_needs_an_ip(tmp_path: Path, url: str, what: str) -> None:
    f = tmp_path / "a.toml"
    f.write_text(f'[llm]\nmode = "server"\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(f, environ={})
    assert "llm.base_url" in str(exc.value) and what in str(exc.value)


def test_llm_server_config_loads_and_masks_the_key() -> None:
    env = {"APPLIANCE__LLM__MODE": "server", "APPLIANCE__LLM__BASE_URL": "http://[::1]:8000/v1"}
    cfg = load_config(environ={**env, "APPLIANCE__LLM__API_KEY": "s3cret"}, use_system=False)
    assert (cfg.llm.base_url, cfg.llm.schema_format) == ("http://[::1]:8000/v1", "auto")
    assert dump_config(cfg)["llm"]["api_key"] == "***"

"""Installation pieces: setup.sh's argument handling, the README's two commands, .ci/run,
the systemd unit and the dependency pins. Fast: nothing here installs anything."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from appliance.core.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"
CI_RUN = ROOT / ".ci" / "run"
README = ROOT / "README.md"
UNIT = ROOT / "systemd" / "appliance.service"


def _bash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *args], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )


def _readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def _unit_entries() -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment; systemd allows repeated keys."""
    entries = []
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


@pytest.mark.parametrize("script", [SETUP, CI_RUN])
def test_scripts_parse_and_are_executable(script: Path) -> None:
    assert _bash("-n", str(script)).returncode == 0
    assert script.stat().st_mode & 0o111, f"{script} must be executable (git mode 755)"
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")


def test_setup_help_and_bad_arguments_need_no_stdin() -> None:
    help_ = _bash(str(SETUP), "--help")
    assert help_.returncode == 0, help_.stderr
    assert "--test" in help_.stdout and "--run" in help_.stdout
    bad = _bash(str(SETUP), "--bogus")
    assert bad.returncode == 2
    assert "unknown argument" in bad.stderr
    both = _bash(str(SETUP), "--test", "--run")
    assert both.returncode != 0
    assert "only one" in both.stderr


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    run_cmd = [c for c in commands if c.endswith("--run")]
    test_cmd = [c for c in commands if c.endswith("--test")]
    assert len(run_cmd) == 1 and len(test_cmd) == 1, commands
    ci_lines = [ln.strip() for ln in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert f"exec {test_cmd[0]} </dev/null" in ci_lines


def test_setup_propagates_pytest_status_without_swallowing_it() -> None:
    text = SETUP.read_text(encoding="utf-8")
    assert re.search(r'^\s*exec "\$VPY" -m pytest ', text, flags=re.M)
    # with no paths, pytest runs testpaths: the whole of tests/ (unit, integration, e2e)
    with (ROOT / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    assert "exec </dev/null" in text
    assert "DEBIAN_FRONTEND=noninteractive" in text


def test_unit_runs_the_daemon_hardened() -> None:
    entries = _unit_entries()
    service = {k: v for s, k, v in entries if s == "Service"}
    env = [v for s, k, v in entries if s == "Service" and k == "Environment"]
    assert service["ExecStart"].endswith("/appliance run --config /etc/appliance/appliance.toml")
    assert service["User"] == "appliance"
    assert service["StateDirectory"] == "appliance"
    assert "APPLIANCE__STORE__DATA_DIR=/var/lib/appliance" in env
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 0
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert "/var/lib/appliance" in service["ReadWritePaths"].split()
    assert ("Install", "WantedBy", "multi-user.target") in entries


def test_unit_environment_is_what_the_config_loader_reads() -> None:
    env = dict(v.split("=", 1) for s, k, v in _unit_entries() if s == "Service" and k == "Environment" and "__" in v)
    cfg = load_config(environ=env, use_system=False)
    assert cfg.data_path == Path("/var/lib/appliance")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # The real ExecStart (/opt/appliance/...) does not exist here: point it at an executable that does.
    text = UNIT.read_text(encoding="utf-8")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", text, flags=re.M)
    unit = tmp_path / "appliance.service"
    unit.write_text(text, encoding="utf-8")
    res = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr


def test_pins_torch_first_and_keeps_pyannote_out() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    deps = project["dependencies"]
    assert re.fullmatch(r"torch==[\w.]+", deps[0]), deps[0]
    for dep in deps:
        assert "==" in dep, f"unpinned dependency {dep!r}"
        assert not dep.lower().startswith("pyannote"), "pyannote must stay out of the main environment"
    for extra in ("test", "models"):
        for dep in project["optional-dependencies"][extra]:
            assert "==" in dep, f"unpinned {extra} dependency {dep!r}"
            assert not dep.lower().startswith("pyannote")

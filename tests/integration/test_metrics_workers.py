"""With ``sip.workers > 1`` the calls are counted in the SIP worker processes: the daemon's one
/metrics endpoint adds their counts (prometheus_client's multiprocess files) to its own.

Real processes: two "workers" are Python processes started with ``PROMETHEUS_MULTIPROC_DIR``,
as the SIP cluster starts them, counting through ``appliance.core.metrics``; the scrape is the
daemon's ``served_registry`` read through prometheus_client's parser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from appliance.core import metrics
from appliance.ops.metrics import served_registry

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
from appliance.core import metrics
metrics.CALLS.labels(mode="voice").inc({calls})
metrics.ACTIVE_CALLS.inc({active})
metrics.VOICE_STAGE_SECONDS.labels(stage="first_audio").observe(0.3)
metrics.TOOL_CALLS.labels(tool="create_booking", outcome="ok").inc()
"""


def _worker(tmp: Path, calls: int, active: int) -> int:
    """Run one counting process to its end; its pid (its files stay, like a dead worker's)."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER.format(calls=calls, active=active)], env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return proc.pid


def _scrape(workers_dir: Path | None) -> dict[str, dict[tuple, float]]:
    text = generate_latest(served_registry(workers_dir)).decode()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names)), "a metric family is served twice"
    return {
        fam.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples}
        for fam in text_string_to_metric_families(text)
    }


def _calls(scraped: dict, mode: str = "voice") -> float:
    return scraped["appliance_calls"].get(("appliance_calls_total", (("mode", mode),)), 0.0)


def test_the_daemon_serves_its_own_and_its_workers_counts_added_up(tmp_path: Path) -> None:
    workers = tmp_path / "workers"
    workers.mkdir()
    own = _calls(_scrape(None))  # the daemon's own count (other tests in this process count too)
    _worker(workers, calls=2, active=1)
    _worker(workers, calls=3, active=1)
    got = _scrape(workers)
    assert _calls(got) == own + 5
    first_audio = ("appliance_voice_stage_seconds_count", (("stage", "first_audio"),))
    assert got["appliance_voice_stage_seconds"][first_audio] >= 2  # histograms add up too
    ok = ("appliance_tool_calls_total", (("outcome", "ok"), ("tool", "create_booking")))
    assert got["appliance_tool_calls"][ok] >= 2
    assert got["appliance_active_calls"][("appliance_active_calls", ())] >= 2  # live workers' gauges


def test_a_dead_workers_calls_stay_counted_and_its_gauges_leave(tmp_path: Path) -> None:
    workers = tmp_path / "workers"
    workers.mkdir()
    own_active = _scrape(None)["appliance_active_calls"][("appliance_active_calls", ())]
    pid = _worker(workers, calls=4, active=2)
    before = _scrape(workers)
    assert before["appliance_active_calls"][("appliance_active_calls", ())] == own_active + 2
    multiprocess.mark_process_dead(pid, str(workers))  # what the cluster does when a worker exits
    after = _scrape(workers)
    assert after["appliance_active_calls"][("appliance_active_calls", ())] == own_active
    assert _calls(after) == _calls(before)  # counters never go back


def test_no_workers_yet_is_the_daemons_own_registry(tmp_path: Path) -> None:
    assert _scrape(tmp_path / "none").keys() == _scrape(None).keys()  # the same families, no error
    assert metrics.workers_dir(tmp_path) == tmp_path / "run" / "sip-worker-metrics"

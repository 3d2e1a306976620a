"""After a clean stop the process ends even when something would hold it: a non-daemon thread
blocked forever (what a library call stuck at shutdown looks like to the interpreter)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.sip_harness import ROOT, env

HELD = """
import threading
from appliance.ops.runtime import exit_after_stop
threading.Thread(target=threading.Event().wait).start()  # never ends, and is not a daemon thread
exit_after_stop(0.5)
print("stopped", flush=True)
"""


def test_a_process_held_after_its_stop_exits_cleanly_with_the_stacks_logged() -> None:
    proc = subprocess.run([sys.executable, "-c", HELD], capture_output=True, text=True, env=env(), cwd=ROOT,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "stopped"
    assert "Thread" in proc.stderr and "wait" in proc.stderr, proc.stderr[-2000:]  # every thread's stack


def test_without_the_guard_such_a_process_would_not_exit() -> None:
    """The control: the same process without the guard is still running after 2 s."""
    code = HELD.replace("exit_after_stop(0.5)", "pass")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env(), cwd=ROOT)
    try:
        time.sleep(2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(10)

"""`up -d` forks the supervisor before it reads the stack file; when it then starts
nothing (a refused port, a running project to reconcile), that child must not outlive it."""

from __future__ import annotations

import os

from stackrun.daemon.launcher import Launcher


def test_a_cancelled_launch_leaves_no_process():
    launcher = Launcher.fork()
    launcher.cancel()
    assert not os.path.exists(f"/proc/{launcher.pid}")  # ended and reaped, not still loading
    launcher.cancel()  # twice is harmless

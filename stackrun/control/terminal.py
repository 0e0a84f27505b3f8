"""Relay the user's terminal to a pty's master side (`exec` with a terminal).

The user's terminal goes to raw mode, so every key (Ctrl-C included) reaches the
command through its own terminal; the window size follows SIGWINCH. The relay ends
when the command's side of the pty is closed by every process holding it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import termios
import tty

CHUNK = 65536
STDIN, STDOUT = 0, 1


def relay(master: int) -> None:
    saved = termios.tcgetattr(STDIN) if os.isatty(STDIN) else None
    copy_size(STDIN, master)
    previous = signal.signal(signal.SIGWINCH, lambda *_: copy_size(STDIN, master))
    try:
        if saved is not None:
            tty.setraw(STDIN, termios.TCSANOW)  # keep what was typed already
        _pump(master)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        if saved is not None:
            termios.tcsetattr(STDIN, termios.TCSADRAIN, saved)


def copy_size(source: int, target: int) -> None:
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # not a terminal: the pty keeps its default size


def _pump(master: int) -> None:
    reading_input = True
    while True:
        sources = [master, STDIN] if reading_input else [master]
        readable, _, _ = select.select(sources, [], [])
        if master in readable:
            data = _read(master)
            if not data:
                return
            _write_all(STDOUT, data)
        if STDIN in readable:
            data = _read(STDIN)
            if data:
                _write_all(master, data)
            else:  # end of our input: the command reads end-of-file at the next line
                reading_input = False
                _write_all(master, termios.tcgetattr(master)[6][termios.VEOF])


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, CHUNK)
    except OSError as error:
        if error.errno == errno.EIO:  # Linux: every slave descriptor is closed
            return b""
        raise


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]

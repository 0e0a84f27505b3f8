"""Builds: a Dockerfile run step by step into an image of the store, beside the
supervisor (DESIGN.md): each RUN is an instance made through runtime/, on an overlay of
the stage's layers under a fresh writable layer that becomes the step's layer.

    steps.py      a stage's state while it is evaluated, and the steps it asks for; pure
    dispatch.py   one function per instruction over that state, in a table; pure
"""

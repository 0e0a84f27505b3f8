"""`stackrun watch` and `up --watch`: develop.watch, as Compose's.

rules.py     the rules of the stack file and what changed paths ask of them (pure)
tree.py      changes below host paths, from inotify
session.py   carry out each burst: sync, restart, exec; one line per action
"""

"""The Dockerfile front end (the builds work). Here so far: `ignore.py`, moby's pattern
matcher for .dockerignore, which `watch` uses for develop.watch's ignore/include."""

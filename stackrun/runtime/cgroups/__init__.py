"""cgroups: one interface (`CgroupDriver`), a v1 and a v2 driver, and `detect()`.

    driver = detect()                        # or detect(parent="ci-jobs"), --cgroup-parent
    driver.create("stackrun-web/api", limits)
    for procs in driver.procs_files("stackrun-web/api"): ...   # the spawn writes "0" there
    driver.usage(path); driver.pids(path); driver.populated(path)
    with driver.oom_watch(path) as watch: await anyio.wait_readable(watch); watch.drain()
    driver.kill(path); driver.remove(path); driver.sweep("stackrun-web")

See docs/runtime.md (## cgroups).
"""

from stackrun.runtime.cgroups.base import CgroupDriver, Usage, Watch
from stackrun.runtime.cgroups.layout import Layout, detect, parse
from stackrun.runtime.cgroups.v1 import V1Driver
from stackrun.runtime.cgroups.v2 import V2Driver

__all__ = ["CgroupDriver", "Layout", "Usage", "V1Driver", "V2Driver", "Watch", "detect", "parse"]

"""The grading engine's copy of the stand-ins, made while the build goes on."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor

from .catalog import MAIN_HOST, REPO
from .recipe import root_flavor
from .tags import IMAGES
from .util import log


class GradingEngineCopier:
    """Copies the stand-ins into the grading engine one group at a time, in the background.

    A group is every tag on one imported rootfs (e.g. alpine, node*-slim): its big layers
    travel once, in one `docker save | docker load` (scripts/grading-engine load, which skips
    what the grading engine already has at the same recipe), as soon as the group's last
    flavour is built, so copying overlaps the build of the slower groups. Only real
    stand-in tags are copied, never the drydock-standin-rootfs images.
    """

    def __init__(self, tags: list[str], building: list[str]) -> None:
        """`tags`: the tags to copy; `building`: the flavours this run builds."""
        self.group_tags: dict[str, list[str]] = {}
        for t in tags:
            self.group_tags.setdefault(root_flavor(IMAGES[t]["flavor"]), []).append(t)
        self.pending: dict[str, set[str]] = {root: set() for root in self.group_tags}
        for flavor in building:
            self.pending.setdefault(root_flavor(flavor), set()).add(flavor)
        self.pool = ThreadPoolExecutor(max_workers=1)  # one load at a time: it is disk-bound
        self.futures: dict[str, Future] = {}
        self.script = REPO / "scripts" / "grading-engine"
        self.available = self._answers()
        if not self.available:
            log("grading engine not answering: stand-ins are not copied (scripts/grading-engine)")
        for root, waiting in self.pending.items():  # groups already up to date here
            if not waiting:
                self._submit(root)

    def _env(self, refs: list[str] | None = None) -> dict:
        env = dict(os.environ)
        env.setdefault("DRYDOCK_MAIN_DOCKER_HOST", os.environ.get("DOCKER_HOST", MAIN_HOST))
        if refs is not None:
            env["DRYDOCK_GRADING_ENGINE_STANDINS"] = " ".join(refs)
        return env

    def _answers(self) -> bool:
        res = subprocess.run([str(self.script), "status"], capture_output=True, env=self._env())
        return res.returncode == 0

    def flavor_done(self, flavor: str) -> None:
        root = root_flavor(flavor)
        waiting = self.pending.get(root)
        if waiting is None or not self.available:
            return
        waiting.discard(flavor)
        if not waiting:
            self._submit(root)

    def _submit(self, root: str) -> None:
        if self.available and self.group_tags.get(root):
            self.futures[root] = self.pool.submit(self._copy, root)

    def _copy(self, root: str) -> None:
        t0 = time.time()
        refs = self.group_tags[root]
        res = subprocess.run(
            [str(self.script), "load"], capture_output=True, text=True, env=self._env(refs)
        )
        if res.returncode != 0:
            raise SystemExit(f"copy to the grading engine failed: {res.stderr[-2000:]}")
        log(f"grading engine: {root} group ({len(refs)} tags) current in {time.time() - t0:.0f}s")

    def finish(self) -> list[str]:
        errors = []
        for root, fut in self.futures.items():
            try:
                fut.result()
            except SystemExit as e:
                errors.append(f"grading engine, {root} group: {e}")
        self.pool.shutdown()
        return errors

"""The sandbox: the only code that talks to the Docker engine (and the only importer of docker-py).

It grades on the dedicated grading engine (scripts/grading-engine) and refuses any engine
without user-namespace remapping. The grader hands it a job spec of bytes (`SandboxPlan`):
no host path ever reaches the engine.

Public surface:
  observe(plan, limits, progress, engine)  build, run and probe one submission; RuntimeObservations
                   (returned before the job's teardown, which runs after in a thread)
  wait_for_teardown()  wait until every job of this process is torn down
  janitor(..., sweep_scratch=...)  remove what crashed jobs left behind, prune the build cache
  connect(address) / engine_status(address)  a client for the grading engine / a ping
  SandboxUserError, InfrastructureError, EngineUnavailable   the typed errors (see errors)

One module per concern:
  errors      typed errors and `engine_error`, the one mapping of engine failures to them
  client      the engine address (unix or TLS), connect, engine_call, Deadline, TailBuffer,
              local_image, standin_image, labels
  files       build contexts as tar streams (modes kept, .dockerignore applied)
  storage     the job's tmpfs-backed, size- and inode-capped volumes and their holder
  limits      build cgroup (pids), disk guard and the measurements it uses
  build       classic builds under the limits; buildkit: BuildKit builds through the
              engine's CLI; outcome: what either returns; baseline: the development image
  substitutes stand-ins for official tags the sandbox lacks
  job         SandboxJob: owns (creates, labels, tears down) every resource of one job
  health      healthcheck specs; containers: a service as container arguments, per-job shares
  stack       bring-up (networks, volumes, services in start order); probes: exec, health
              probes, the HTTP probe, collection, the database-down probe; session: `observe`
  canary      the canary secret scan of a built image; janitor: the periodic clean-up
  teardown    the teardowns that run after the verdict, in threads of this process
"""

from ..types import InfrastructureError
from .client import connect, engine_status
from .errors import EngineUnavailable, SandboxUserError
from .janitor import janitor
from .session import observe, wait_for_teardown

__all__ = [
    "EngineUnavailable",
    "InfrastructureError",
    "SandboxUserError",
    "connect",
    "engine_status",
    "janitor",
    "observe",
    "wait_for_teardown",
]

"""The sandbox: the only code that talks to the Docker engine (and the only importer of docker-py).

Public surface:
  observe(plan, limits, progress)  build, run and probe one submission; RuntimeObservations
  janitor(..., sweep_scratch=...)  remove what crashed jobs left behind, prune the build cache
  connect() / engine_status()      a client for the engine the environment names / a ping
  SandboxUserError, InfrastructureError, EngineUnavailable   the typed errors (see errors)

One module per concern:
  errors      typed errors and `engine_error`, the one mapping of engine failures to them
  client      connect, engine_call, Deadline, TailBuffer, local_image, labels
  limits      build cgroup (pids), disk guard and the measurements it uses
  build       classic builds under the limits; baseline: the cached development image
  job         SandboxJob: owns (creates, labels, tears down) every resource of one job
  health      healthcheck specs; containers: a service as container arguments
  stack       bring-up (networks, volumes, services in start order); probes: exec, health
              probes, the HTTP probe and collection; session: `observe` and its steps
  canary      the canary secret scan of a built image; janitor: the periodic clean-up
"""

from ..types import InfrastructureError
from .client import connect, engine_status
from .errors import EngineUnavailable, SandboxUserError
from .janitor import janitor
from .session import observe

__all__ = [
    "EngineUnavailable",
    "InfrastructureError",
    "SandboxUserError",
    "connect",
    "engine_status",
    "janitor",
    "observe",
]

"""Drydock's grader: plain Python, no Django imports.

One module per concern:
  proc        — run hadolint and Docker Compose with a clean env, in their own process group, under a timeout
  files       — load and validate the learner's files (size, encoding, symlinks)
  dockerfile  — parse a Dockerfile (stages, ARGs, final stage) and run hadolint
  compose     — bomb-safe YAML load and the real Docker Compose CLI (`config --format json`)
  policy      — sandbox policy: reject hostile compose files, normalise the rest for the sandbox
  checks      — the seven checklist rules (static) and their runtime confirmations
  sandbox/    — the only code that talks to the Docker engine (docker-py): builds, sandboxed
                runs, probes, teardown, janitor; `observe(plan, limits, progress)` collects
                RuntimeObservations (one module per concern, see its __init__)
  grader      — orchestration: static analysis, then (optionally) build/run, then the report
  types       — result types shared by all of the above (the JSON contract)
"""

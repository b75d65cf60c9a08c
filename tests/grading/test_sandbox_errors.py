"""Who an engine refusal is blamed on: the one mapping of engine failures to typed errors."""

import pytest
import requests
from docker.errors import APIError, BuildError

from exercises.grading.sandbox.errors import (
    ContainerRejected,
    Origin,
    SandboxUserError,
    StartRefused,
    engine_error,
)
from exercises.grading.types import GradingError, InfrastructureError


def refused(status: int, explanation: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError("refused", response=response, explanation=explanation)


def test_a_bad_image_name_of_the_learner_is_their_error_not_ours():
    error = engine_error(
        refused(400, "invalid reference format: repository name must be lowercase"),
        "tagging the image Registry/App:1.0",
        Origin.LEARNER_CONFIG,
    )
    assert isinstance(error, SandboxUserError) and isinstance(error, GradingError)
    assert not isinstance(error, InfrastructureError)
    assert "repository name must be lowercase" in str(error)
    assert "Registry/App:1.0" in str(error)


@pytest.mark.parametrize("origin", list(Origin))
@pytest.mark.parametrize(
    "failure",
    [refused(500, "driver failed programming external connectivity"), ConnectionError("reset")],
)
def test_engine_faults_and_unavailability_are_infrastructure_errors(origin, failure):
    error = engine_error(failure, "starting app", origin)
    assert isinstance(error, InfrastructureError)
    assert str(error).startswith("engine: starting app failed: ")


def test_a_refusal_of_a_call_on_drydocks_own_resources_is_ours():
    assert isinstance(
        engine_error(refused(400, "invalid option"), "creating network x"), InfrastructureError
    )


def test_a_build_request_refused_for_the_learners_files_is_theirs():
    error = engine_error(
        refused(404, "Cannot locate specified Dockerfile: Dockerfile.prod"),
        "building your image",
        Origin.LEARNER_BUILD,
    )
    assert isinstance(error, SandboxUserError)
    # a failing RUN step is reported by the build itself, never blamed by status
    assert isinstance(
        engine_error(BuildError("boom", []), "building", Origin.LEARNER_BUILD), InfrastructureError
    )


def test_a_container_that_cannot_start_names_the_engines_reason():
    error = engine_error(
        refused(500, 'OCI runtime create failed: exec: "nodee": executable file not found'),
        "starting app",
        Origin.LEARNER_START,
    )
    assert isinstance(error, StartRefused)
    assert error.detail.endswith("executable file not found")


def test_typed_errors_pass_through_unchanged():
    rejected = ContainerRejected("invalid mount config")
    assert engine_error(rejected, "creating container", Origin.DRYDOCK) is rejected

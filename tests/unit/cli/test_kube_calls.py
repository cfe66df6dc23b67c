"""One way to call the Kubernetes API (client/kube_calls.py): every failure a KubeApiError;
a 401/403 from an API server still starting is transient, the same from a ready one is not."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubecanvas.client.kube_calls import call_json
from kubecanvas.errors import KubeApiError


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status = status


class FakeApiClient:
    """Answers `/readyz` with the given status; a generated API class's `api_client`."""

    def __init__(self, readyz: int) -> None:
        self.readyz = readyz
        self.asked = 0

    def param_serialize(
        self, method: str, path: str, **_: Any
    ) -> tuple[str, str, dict[str, str], None, list[Any]]:
        return method, f"https://api{path}", {}, None, []

    def call_api(self, method: str, url: str, **_: Any) -> FakeResponse:
        assert (method, url) == ("GET", "https://api/readyz")
        self.asked += 1
        return FakeResponse(self.readyz)


class FakeCoreApi:
    def __init__(self, refusal: int, readyz: int) -> None:
        self.api_client = FakeApiClient(readyz)
        self.refusal = refusal

    def read_namespaced_config_map(self, *_: Any, **__: Any) -> Any:
        raise ApiException(status=self.refusal, reason="Forbidden")


@pytest.mark.parametrize("refusal", [401, 403])
def test_a_refusal_from_a_server_still_starting_is_transient(refusal: int) -> None:
    api = FakeCoreApi(refusal, readyz=500)
    with pytest.raises(KubeApiError) as raised:
        call_json(api.read_namespaced_config_map, "c", "n")
    assert raised.value.status == refusal
    assert raised.value.transient
    assert "not ready yet" in str(raised.value)


def test_a_refusal_from_a_ready_server_stands() -> None:
    api = FakeCoreApi(403, readyz=200)
    with pytest.raises(KubeApiError) as raised:
        call_json(api.read_namespaced_config_map, "c", "n")
    assert (raised.value.status, raised.value.transient) == (403, False)


def test_other_refusals_do_not_ask_whether_the_server_is_ready() -> None:
    api = FakeCoreApi(422, readyz=500)
    with pytest.raises(KubeApiError) as raised:
        call_json(api.read_namespaced_config_map, "c", "n")
    assert not raised.value.transient
    assert api.api_client.asked == 0


def test_a_failure_told_again_keeps_its_status_and_readiness() -> None:
    """Callers put their context in front (`cannot create workflow in ns: ...`): a refusal
    from a server still starting must stay transient through that."""
    unready = KubeApiError(403, "forbidden", unready=True)
    told = unready.restated(f"cannot create workflow in ns: {unready}")
    assert (told.status, told.transient) == (403, True)
    assert str(told) == "cannot create workflow in ns: forbidden (the API server is not ready yet)"
    assert not KubeApiError(403, "forbidden").restated("ctx").transient

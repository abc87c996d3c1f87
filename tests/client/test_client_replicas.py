"""One client across replicas: round-robin balancing, and no failed call when a replica is SIGKILLed.

The live tests run two `tests.client.replica_server` processes on loopback (see `tests.client.failover`);
the unit tests check the service config, the target forms and the REST picker without a server.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from keras_residual.client import ServingClient
from keras_residual.client.rest_replicas import Endpoint, Replicas
from keras_residual.client.transport import CallOptions
from tests.client.failover import client_for, replicas, run_failover


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_two_replicas_share_the_load_and_a_sigkill_fails_no_call(transport):
    result = run_failover(transport, requests=200, threads=4, kill_after=100)
    assert result["errors"] == []
    assert len(result["answered_by"]) == 200
    first = result["answered_by"][:100]
    counts = sorted(first.count(replica) for replica in (0, 1))
    assert counts[0] > 0, f"one replica took all of the first 100 calls: {counts}"
    assert counts[1] <= 2 * counts[0], f"first 100 calls split {counts}: not within a factor of 2"
    after = result["started_after_kill_answered_by"]
    assert after and set(after) == {1}, "calls sent after the kill must all be answered by the live replica"


def test_pick_first_keeps_every_call_on_the_first_replica():
    image = np.ones((1, 4, 4, 3), "float32")
    with replicas(2) as servers:
        for transport in ("grpc", "rest"):
            client = client_for([info for _, info in servers], transport, load_balancing="pick_first")
            answered = [int(client.predict(image)["replica"][0]) for _ in range(12)]
            client.close()
            assert answered == [0] * 12, transport


def test_the_service_config_names_round_robin_and_the_retry_policy():
    options = dict(ServingClient.channel_options(retries=2))
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    first = json.loads(dict(ServingClient.channel_options(load_balancing="pick_first"))["grpc.service_config"])
    assert first["loadBalancingConfig"] == [{"pick_first": {}}]


@pytest.mark.parametrize(
    ("target", "transport"),
    [
        ("ipv4:127.0.0.2:8500,127.0.0.3:8500", "grpc"),
        ("dns:///localhost:8500", "grpc"),
        (["http://127.0.0.2:8501", "https://127.0.0.3:8501/prefix"], "rest"),
        (("http://127.0.0.2:8501",), "rest"),
    ],
)
def test_targets_naming_several_replicas(target, transport):
    client = ServingClient(target, "m")
    assert client.transport == transport
    client.close()


@pytest.mark.parametrize(
    "target", [[], ["127.0.0.2:8500", "127.0.0.3:8500"], ["http://127.0.0.2:1", 5], ["ftp://127.0.0.2:1"], {"http://127.0.0.2:1"}]
)
def test_a_bad_replica_list_names_the_target(target):
    with pytest.raises(ValueError, match="`target` must be"):
        ServingClient(target, "m")


def test_an_unknown_load_balancing_policy_is_refused():
    with pytest.raises(ValueError, match="`load_balancing` must be one of"):
        ServingClient("h:1", "m", load_balancing="least_request")


def _replicas(policy: str) -> Replicas:
    options = CallOptions("", 1.0, 1, 1024, False, policy, ("http://127.0.0.2:1", "http://127.0.0.3:1", "http://127.0.0.4:1"))
    return Replicas([Endpoint(url, options, None) for url in options.urls], policy)


def test_round_robin_rotates_and_skips_a_replica_that_is_down():
    pool = _replicas("round_robin")
    a, b, c = pool.endpoints
    assert [pool.pick()[0] for _ in range(6)] == [a, b, c, a, b, c]
    b.mark_down()
    assert [pool.pick()[0] for _ in range(4)] == [a, c, c, a]
    assert pool.pick(failed=a) == (c, True)


def test_a_replica_comes_back_after_its_backoff_or_its_next_answer():
    pool = _replicas("pick_first")
    a, b, _ = pool.endpoints
    a.mark_down()
    assert pool.pick() == (b, True)
    a.mark_up()
    assert pool.pick() == (a, True)
    a.mark_down()
    a.mark_down()  # two failures in a row: 0.4 s
    assert a.is_down(time.monotonic() + 0.3) and not a.is_down(time.monotonic() + 0.5)


def test_when_every_replica_is_down_the_next_is_tried_after_a_backoff():
    pool = _replicas("round_robin")
    for endpoint in pool.endpoints:
        endpoint.mark_down()
    endpoint, up = pool.pick()
    assert endpoint is pool.endpoints[0] and up is False

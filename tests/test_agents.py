"""Agents driven by ``agent.test_context()`` against a runtime built from the shipped config: no broker.

Faust's producer is replaced by :class:`RecordingProducer`, which keeps every
record an agent sends and acknowledges it at once, or only when the test says
so (to see what an agent does while the broker has not acknowledged yet). The
end-to-end tests (``*_end_to_end.py``) run the same agents against Kafka.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson
import pytest
from aiokafka.structs import RecordMetadata
from faust.types import TP
from prometheus_client import CollectorRegistry

from takedowns import messages
from tests.conftest import tables_in_memory

with tables_in_memory():
    from streams import runtime as worker_runtime
    from streams.agents import forwarders, items, scan
    from streams.app import app, settings
    from streams.metrics import Metrics
    from streams.tables import item_to_state, post_to_alert, post_to_takedown_request

VIOLATING = "Tehreek-e-Taliban Pakistan ke mujahideen ko salam, kal Peshawar mein police par hamla karo"


class RecordingProducer:
    """Faust's producer for a test: records what is sent; acknowledges at once unless held."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.held: list[tuple[asyncio.Future, RecordMetadata]] | None = None

    async def send(self, topic, key, value, partition=None, timestamp=None, headers=None, **_):
        self.sent.append((topic, key, value))
        future = asyncio.get_running_loop().create_future()
        metadata = RecordMetadata(topic, partition or 0, TP(topic, partition or 0), len(self.sent), -1, 0, 0)
        if self.held is None:
            future.set_result(metadata)
        else:
            self.held.append((future, metadata))
        return future

    async def send_and_wait(self, *args, **kwargs):
        return await (await self.send(*args, **kwargs))

    def send_soon(self, future_message) -> None:
        asyncio.ensure_future(future_message.message.channel.publish_message(future_message))

    def key_partition(self, topic, key):
        return TP(topic, 0)

    def hold(self) -> None:
        self.held = []

    def release(self, keep_holding: bool = False) -> None:
        held, self.held = self.held or [], [] if keep_holding else None
        for future, metadata in held:
            future.set_result(metadata)

    def records(self, topic: str) -> list[tuple[str, dict]]:
        """What was sent to a topic, each record read strictly as its type (takedowns/messages.py)."""
        name = settings.topic(topic)
        found = [(key.decode(), orjson.loads(value)) for sent_to, key, value in self.sent if sent_to == name]
        for _, record in found:
            READERS[topic](record)
        return found


READERS = {
    "alerts": messages.read_alert,
    "takedown-requests": messages.TakedownRequest.from_dict,
    "ledger": messages.read_ledger_record,
    "item-state": dict,
    "deadletter": messages.DeadLetter.from_dict,
    "item-events": messages.read_item_event,
    "account-events": messages.read_account_event,
    "campaign-events": messages.read_campaign_event,
}


async def until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


class EveryRecord:
    """The test channel's offsets are its own: every record is new and in order."""

    async def admit(self, event) -> bool:
        return True


@pytest.fixture(scope="module")
def built_runtime():
    app.finalize()
    return worker_runtime.Runtime.build(settings)


@pytest.fixture
def producer(built_runtime, monkeypatch):
    recording = RecordingProducer()

    async def started():
        return recording

    monkeypatch.setattr(app, "maybe_start_producer", started)
    monkeypatch.setattr(app, "_producer", recording)
    worker_runtime.install(
        dataclasses.replace(
            built_runtime, metrics=Metrics(CollectorRegistry()), order=EveryRecord(), dispatcher=HandedOver()
        )
    )
    for table in (item_to_state, post_to_alert, post_to_takedown_request):
        table.data.clear()
    yield recording
    worker_runtime._CURRENT.clear()


class HandedOver:
    """The dispatcher for a test: keeps what it is handed (request_id -> key), delivers nothing."""

    def __init__(self) -> None:
        self.in_flight: dict[str, str] = {}

    def submit(self, key: str, request: dict) -> bool:
        if request["request_id"] in self.in_flight:
            return False
        self.in_flight[request["request_id"]] = key
        return True

    def settled(self, request_id: str) -> None:
        self.in_flight.pop(request_id, None)


@pytest.fixture
def delivering(producer) -> dict[str, str]:
    """Requests handed to the dispatcher: request_id -> item key."""
    return worker_runtime.current().dispatcher.in_flight


def post(post_id: str, text: str, **extra) -> bytes:
    record = {
        "platform": "x",
        "post_id": post_id,
        "account_id": "acct-1",
        "text": text,
        "posted_at": "2026-11-29T10:00:00Z",
        **extra,
    }
    return orjson.dumps(record)


async def test_scan_posts_flags_a_violating_post_and_dead_letters_a_broken_one(producer):
    async with scan.scan_posts.test_context() as agent:
        await agent.put(post("1", VIOLATING), key=b"x:1")
        await agent.put(b"{not json", key=b"x:2")
        await agent.put(post("3", "Cricket tonight: what an innings"), key=b"x:3")
        for _ in range(100):
            if len(producer.records("deadletter")) and len(producer.records("item-events")):
                break
            await asyncio.sleep(0.05)
    [(key, flagged)] = producer.records("item-events")
    assert key == "x:1" and flagged["type"] == "flagged"
    assert flagged["flagged"]["action"] == "takedown"
    [(_, letter)] = producer.records("deadletter")
    assert letter["reason"] == "invalid_json"


async def test_an_item_gets_one_alert_one_request_and_one_ledger_record_however_often_it_is_flagged(
    producer, delivering
):
    flagged = await _flagged(producer, "7")
    producer.sent.clear()
    async with items.track_items.test_context() as agent:
        await agent.put({"type": "flagged", "flagged": flagged}, key="x:7")
        await agent.put({"type": "flagged", "flagged": flagged}, key="x:7")  # a replay
        duplicates = worker_runtime.current().metrics.duplicates.labels("alert")
        await until(lambda: "x:7" in item_to_state and duplicates._value.get() == 1)  # the replay was read
    [(_, alert)] = producer.records("alerts")
    [(_, request)] = producer.records("takedown-requests")
    ledger = producer.records("ledger")
    assert alert["alert_id"] == "detection:x:7" and request["request_id"] == alert["request_id"]
    # Handed to the dispatcher once, in memory: no record on any topic.
    assert list(delivering) == [request["request_id"]]
    assert [(record["from"], record["to"]) for _, record in ledger] == [("new", "requested")]
    assert item_to_state["x:7"]["request"]["request_id"] == request["request_id"]


async def test_the_state_is_stored_only_after_the_broker_has_every_output(producer):
    """A crash before the acknowledgements must find no state: the replay then publishes again."""
    flagged = await _flagged(producer, "8")
    producer.sent.clear()
    async with items.track_items.test_context() as agent:
        producer.hold()
        done = asyncio.ensure_future(agent.put({"type": "flagged", "flagged": flagged}, key="x:8"))
        releases = 0
        for _ in range(500):
            await asyncio.sleep(0.01)
            if "x:8" in item_to_state:
                break
            if producer.held:
                # Records are out, the broker has not acknowledged them: no state yet.
                assert "x:8" not in item_to_state
                producer.release(keep_holding=True)
                releases += 1
        producer.release()
        await done
    assert releases == 1  # one wait for every output of the batch: alert, request, ledger record
    assert producer.records("takedown-requests") and producer.records("ledger")
    assert item_to_state["x:8"]["request"]["state"] == "requested"


async def test_a_decision_goes_to_its_item_and_a_bad_one_to_the_dead_letters(producer):
    request_id = "tr-" + "eDo5"  # base64url of "x:9"
    good = {"request_id": request_id, "decision": "approve", "reviewer": "r1", "at": "2026-11-29T10:00:00Z"}
    async with forwarders.forward_decisions.test_context() as agent:
        await agent.put(orjson.dumps(good))
        await agent.put(orjson.dumps({"request_id": "not-ours", "decision": "approve"}))
        for _ in range(100):
            if producer.records("deadletter") and producer.records("item-events"):
                break
            await asyncio.sleep(0.05)
    [(key, event)] = producer.records("item-events")
    assert key == "x:9" and event["type"] == "decision" and event["decision"]["decision"] == "approve"
    [(_, letter)] = producer.records("deadletter")
    assert letter["field"] in {"request_id", "reviewer", "at"}


async def test_an_approval_cites_its_law_only_for_a_category_that_law_lists(producer):
    """A bare mention of a designated group is review only; PK's law does not list that category,
    so approving it as is goes to the dead letters, and approving it as terrorism_promotion sends it."""
    flagged = await _flagged(producer, "23", "A documentary about the Haqqani Network")
    assert flagged["action"] == "review" and flagged["categories"] == ["designated_organisation_mention"]
    producer.sent.clear()
    request_id = "tr-" + "eDoyMw"  # base64url of "x:23"
    decision = {"request_id": request_id, "decision": "approve", "reviewer": "r1", "at": "2026-11-29T10:00:00+00:00"}
    async with items.track_items.test_context() as agent:
        await agent.put({"type": "flagged", "flagged": flagged}, key="x:23")
        await agent.put({"type": "decision", "decision": decision}, key="x:23")
        await until(lambda: producer.records("deadletter"))
        await agent.put({"type": "decision", "decision": dict(decision, category="terrorism_promotion")}, key="x:23")
        await until(lambda: producer.records("takedown-requests"))
    [(_, letter)] = producer.records("deadletter")
    assert (letter["reason"], letter["field"]) == ("invalid_value", "category")
    assert "PK (PECA 2016 s.37" in letter["error"] and "does not list" not in letter["error"]
    assert "lists none of designated_organisation_mention" in letter["error"]
    [(_, request)] = producer.records("takedown-requests")
    assert request["categories"] == ["terrorism_promotion"] and request["jurisdiction"] == "PK"
    approval = [record for _, record in producer.records("ledger") if record["cause"]["type"] == "review"]
    assert [record["cause"]["category"] for record in approval] == ["terrorism_promotion"]
    # The reviewer's throughput and the wait since the flag; the refused approval counts for neither.
    metrics = worker_runtime.current().metrics
    assert metrics.reviewer_decisions.labels("r1", "approve")._value.get() == 1
    [wait] = [sample for sample in metrics.review_wait.collect()[0].samples if sample.name.endswith("_count")]
    assert wait.value == 1


async def _flagged(producer, post_id: str, text: str = VIOLATING) -> dict:
    async with scan.scan_posts.test_context() as agent:
        await agent.put(post(post_id, text), key=f"x:{post_id}".encode())
        for _ in range(100):
            if producer.records("item-events"):
                break
            await asyncio.sleep(0.05)
    [(_, event)] = producer.records("item-events")
    return event["flagged"]


async def test_events_of_one_item_in_one_batch_see_each_other_and_store_its_state_once(producer):
    flagged = await _flagged(producer, "21")
    producer.sent.clear()
    request_id = "tr-" + "eDoyMQ"  # base64url of "x:21"
    delivered = {
        "request_id": request_id,
        "delivered": True,
        "delivered_at": "2026-11-29T10:05:00+00:00",
        "channel": "webhook",
        "attempts": 1,
        "outcome": "delivered",
        "reason": None,
    }
    async with items.track_items.test_context() as agent:
        producer.hold()  # the broker waits: both events are read before the batch can finish
        await agent.put({"type": "flagged", "flagged": flagged}, key="x:21")
        await agent.put({"type": "delivery", "delivery": delivered}, key="x:21")
        await until(lambda: len(producer.records("ledger")) == 2)
        assert "x:21" not in item_to_state
        producer.release()
        await until(lambda: "x:21" in item_to_state)
    ledger = producer.records("ledger")
    assert [(record["seq"], record["cause"]["type"]) for _, record in ledger] == [(1, "detection"), (2, "delivery")]
    [(_, state)] = producer.records("item-state")  # the item's state once for the batch: its latest
    assert state["seq"] == 2 and state["request"]["delivered_at"] == delivered["delivered_at"]


async def test_a_key_whose_outputs_the_broker_refused_is_not_stored_and_its_events_are_dead_lettered(producer):
    flagged = await _flagged(producer, "22")
    producer.sent.clear()
    async with items.track_items.test_context() as agent:
        producer.hold()
        await agent.put({"type": "flagged", "flagged": flagged}, key="x:22")
        await until(lambda: len(producer.held) >= 3)  # alert, request, ledger record
        future, _ = producer.held.pop()
        producer.held = None  # acknowledge what comes next at once (the dead letter)
        future.set_exception(RuntimeError("not enough replicas"))
        await until(lambda: producer.records("deadletter"))
    [(_, letter)] = producer.records("deadletter")
    assert letter["reason"] == "internal_error" and "not enough replicas" in letter["error"]
    assert "x:22" not in item_to_state


def test_importing_the_shell_loads_no_config_until_the_worker_builds_its_runtime(tmp_path):
    """Nothing heavy at import: a broken config folder is read only when the runtime is built."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT

    shutil.copy(ROOT / "config" / "modwatch.yaml", tmp_path / "modwatch.yaml")
    (tmp_path / "policy.yaml").write_text("this: [is not valid\n")
    script = (
        "import streams.agents, streams.web, streams.tables\n"
        "from streams import runtime\n"
        "assert not runtime.is_built()\n"
        "try:\n"
        "    runtime.current()\n"
        "except RuntimeError as error:\n"
        "    print('not built:', error)\n"
        "from detectors.configfile import ConfigError\n"
        "from streams.app import settings\n"
        "try:\n"
        "    runtime.Runtime.build(settings)\n"
        "except ConfigError as error:\n"
        "    print('build:', ' | '.join(str(error).splitlines()))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "MODWATCH_CONFIG_DIR": str(tmp_path), "MODWATCH_DATA_DIR": str(tmp_path)}
    found = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0].startswith("not built: the worker's runtime is not built")
    assert lines[1].startswith("build: ") and "policy.yaml" in lines[1] and "jurisdictions.yaml" in lines[1]


def test_the_worker_freezes_what_start_up_made():
    # streams.worker.run calls this once the runtime (bank, models, grammars) is built:
    # later collections leave those objects alone.
    import gc
    import inspect

    from streams import worker
    from streams.worker import freeze_startup_objects

    assert "freeze_startup_objects()" in inspect.getsource(worker.run)  # after Runtime.build
    before = gc.get_freeze_count()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


async def test_each_scanned_post_is_timed_in_each_stage(producer):
    async with scan.scan_posts.test_context() as agent:
        await agent.put(post("1", VIOLATING), key=b"x:1")
        await agent.put(post("2", "Cricket tonight: what an innings"), key=b"x:2")
        for _ in range(100):
            if producer.records("item-events"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    metrics = worker_runtime.current().metrics
    counts = {
        sample.labels["stage"]: sample.value
        for family in metrics.stage_latency.collect()
        for sample in family.samples
        if sample.name.endswith("_count")
    }
    # Both posts, in every stage: wait, validate, detect and publish.
    assert counts == {"wait": 2.0, "validate": 2.0, "detect": 2.0, "publish": 2.0}


async def test_a_batchs_images_are_hashed_on_the_process_pool_and_a_corrupt_one_is_dead_lettered(producer):
    import base64

    from tests.conftest import ROOT

    png = (ROOT / "tests" / "data" / "pdq" / "images" / "misc-images" / "c.png").read_bytes()
    runtime = worker_runtime.current()
    media = [{"kind": "image", "data_b64": base64.b64encode(png).decode()}]
    corrupt = [{"kind": "image", "data_b64": base64.b64encode(b"\x89PNG\r\n\x1a\n broken").decode()}]
    hasher = runtime.pipeline.media.hasher

    def not_here(data, sha256):
        raise AssertionError("an image was hashed in the worker's own process")

    hasher._hash_uncached = not_here  # the pool's processes have their own hasher
    try:
        async with scan.scan_posts.test_context() as agent:
            await agent.put(post("1", "Weekend photos", media=media), key=b"x:1")
            await agent.put(post("2", "More photos", media=corrupt), key=b"x:2")
            for _ in range(200):
                if producer.records("deadletter"):
                    break
                await asyncio.sleep(0.05)
        pool = runtime._hash_pool
        assert pool is not None  # the pool was started for the batch's images
        import hashlib

        # Hashed on the pool: the detector's own hasher has the image cached without having hashed it.
        assert hashlib.sha256(png).digest() in hasher._cache
        [(_, letter)] = producer.records("deadletter")
        assert letter["reason"] == "invalid_value" and letter["field"] == "media[0].data_b64"
    finally:
        del hasher._hash_uncached
        if runtime._hash_pool is not None:
            runtime._hash_pool.shutdown()
            runtime._hash_pool = None


async def test_the_dispatcher_delivers_each_request_once_while_in_flight_and_a_few_per_platform(producer, monkeypatch):
    from streams.agents import deliveries

    started: list[str] = []
    release = asyncio.Event()

    async def deliver(key, request):
        started.append(request["request_id"])
        await release.wait()
        return {"request_id": request["request_id"], "delivered": True, "outcome": "delivered"}

    monkeypatch.setattr(deliveries, "deliver", deliver)
    dispatcher = deliveries.Dispatcher(per_platform=2, limit=4)
    assert dispatcher.submit("x:1", {"request_id": "tr-1", "platform": "x"})
    assert not dispatcher.submit("x:1", {"request_id": "tr-1", "platform": "x"})  # in flight already
    for number in (2, 3):
        assert dispatcher.submit(f"x:{number}", {"request_id": f"tr-{number}", "platform": "x"})
    assert dispatcher.submit("y:4", {"request_id": "tr-4", "platform": "y"})
    assert not dispatcher.submit("y:5", {"request_id": "tr-5", "platform": "y"})  # the worker is full
    for _ in range(50):
        await asyncio.sleep(0.01)
    assert sorted(started) == ["tr-1", "tr-2", "tr-4"]  # two at a time for x, y not held up by x
    release.set()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(producer.records("item-events")) == 4:
            break
    results = producer.records("item-events")
    assert sorted(event["delivery"]["request_id"] for _, event in results) == ["tr-1", "tr-2", "tr-3", "tr-4"]
    # Still in flight until its item reads the result, or until the grace period has passed.
    assert not dispatcher.submit("x:1", {"request_id": "tr-1", "platform": "x"})
    dispatcher.settled("tr-1")
    dispatcher.forget_stale(now=time.monotonic() + deliveries.RESULT_GRACE_SECONDS + 1)
    assert dispatcher.in_flight == {}


async def test_a_delivery_whose_result_cannot_be_sent_is_handed_over_again(producer, monkeypatch):
    from streams.agents import deliveries

    async def deliver(key, request):
        return {"request_id": request["request_id"], "delivered": True, "outcome": "delivered"}

    async def broker_gone(*args, **kwargs):
        raise RuntimeError("broker gone")

    monkeypatch.setattr(deliveries, "deliver", deliver)
    monkeypatch.setattr(deliveries.item_events_topic, "send", broker_gone)
    dispatcher = deliveries.Dispatcher()
    assert dispatcher.submit("x:1", {"request_id": "tr-1", "platform": "x"})
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not dispatcher.in_flight:
            break
    assert dispatcher.in_flight == {}  # the next check hands it over again
    assert dispatcher.submit("x:1", {"request_id": "tr-1", "platform": "x"})
    await dispatcher.close()


async def test_after_recovery_every_open_undelivered_request_is_handed_over_and_no_other(producer, delivering):
    from streams.agents import timers

    def item(state: str, delivered_at=None) -> dict:
        return {"platform": "x", "request": {"request_id": f"tr-{state}", "state": state, "delivered_at": delivered_at}}

    item_to_state.data.update(
        {
            "x:1": item("requested"),
            "x:2": item("acknowledged"),
            "x:3": dict(
                item("requested", "2026-11-29T10:00:00+00:00"),
                request={"request_id": "tr-d", "state": "requested", "delivered_at": "2026-11-29T10:00:00+00:00"},
            ),
            "x:4": item("pending_review"),
            "x:5": item("removed"),
            "x:6": {"platform": "x", "request": None},
        }
    )
    await timers.hand_over_after_recovery()
    assert delivering == {"tr-requested": "x:1", "tr-acknowledged": "x:2"}

"""Runs the registered Azure Functions of `function_app.app` against the in-process broker.

Service Bus triggers are dispatched from the broker (below); HTTP triggers are served by
`local_host.http_triggers` (`async with host.serve_http() as url`, or `host.http_app` in-process)
and timer triggers fire on the broker's clock while `run_until_idle` runs
(`local_host.timer_triggers`), all from the same binding metadata.

The host reads each function's real binding metadata (`get_function_json()`), checks that its
trigger entity exists, and dispatches like the Functions host with `autoCompleteMessages`: a
normal return completes the message, an exception abandons it. A `WorkerCrash` raised inside an
invocation leaves the message unsettled, so it comes back when its lock expires, as after a
real crash. Invocations run concurrently up to host.json's `maxConcurrentCalls` per function.

Each slot works like one handler of the Service Bus extension's message pump: when its
invocation is settled it takes the next available message itself, and gives the slot back only
when there is none. Going back through the dispatch loop instead would cost every invocation
two turns of the event loop, behind whatever else is ready (tens of milliseconds when a round
of API responses arrives together).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from local_host.broker import BrokerMessage, Entity, InMemoryServiceBus, LockLostError
from local_host.http_triggers import (
    HttpFunction,
    HttpTriggerApp,
    RouteTemplateError,
    http_function,
    serving,
)
from local_host.timer_triggers import ScheduleError, TimerFunction, timer_function

HOST_JSON = Path(__file__).resolve().parents[1] / "host.json"
log = logging.getLogger("referral_relay.local_host")


class WorkerCrash(BaseException):
    """Simulates the worker process dying mid-invocation: the message is not settled."""


class HostConfigurationError(Exception):
    """A function's binding does not match the broker's topology."""


@dataclass(frozen=True, slots=True)
class LocalFunction:
    name: str
    arg_name: str
    entity: Entity
    call: Callable[..., Awaitable[None]]


def max_concurrent_calls(host_json: Path = HOST_JSON) -> int:
    settings = json.loads(host_json.read_text())
    value: int = settings["extensions"]["serviceBus"]["maxConcurrentCalls"]
    return value


_FUNCTIONS_ATTR = "_local_host_functions"


def _functions_of(app: func.FunctionApp) -> list[func.Function]:
    # get_functions() validates names against state it keeps, so a second call on the same app
    # fails ("does not have a unique function name"): ask once per app, as the worker does, and
    # keep the answer on the app (an id() key could be reused by a later app).
    functions: list[func.Function] | None = getattr(app, _FUNCTIONS_ATTR, None)
    if functions is None:
        root = logging.getLogger()
        root.addFilter(_no_auth_level_notice)
        try:
            functions = list(app.get_functions())
        finally:
            root.removeFilter(_no_auth_level_notice)
        setattr(app, _FUNCTIONS_ATTR, functions)
    return functions


def _no_auth_level_notice(record: logging.LogRecord) -> bool:
    # azure-functions warns that HTTP auth levels do not apply to an app without HTTP functions.
    return not record.getMessage().startswith("Auth level is not applied")


def discover(app: func.FunctionApp, broker: InMemoryServiceBus) -> list[LocalFunction]:
    functions: list[LocalFunction] = []
    for function in _functions_of(app):
        binding = _trigger_binding(json.loads(function.get_function_json()))
        if binding is None:
            continue
        try:
            if "queueName" in binding:
                entity = broker.entity(binding["queueName"])
            else:
                entity = broker.entity(
                    topic=binding["topicName"], subscription=binding["subscriptionName"]
                )
        except KeyError as exc:
            raise HostConfigurationError(
                f"{function.get_function_name()} triggers on {exc}, which the topology lacks"
            ) from None
        functions.append(
            LocalFunction(
                name=function.get_function_name() or binding["name"],
                arg_name=binding["name"],
                entity=entity,
                call=function.get_user_function(),
            )
        )
    return functions


def _trigger_binding(
    function_json: dict[str, Any], kind: str = "serviceBusTrigger"
) -> dict[str, Any] | None:
    for binding in function_json["bindings"]:
        if binding["type"] == kind:
            found: dict[str, Any] = binding
            return found
    return None


def discover_http(app: func.FunctionApp) -> list[HttpFunction]:
    """The HTTP-triggered functions, from their `httpTrigger` bindings."""
    functions: list[HttpFunction] = []
    for function in _functions_of(app):
        binding = _trigger_binding(json.loads(function.get_function_json()), "httpTrigger")
        if binding is not None:
            try:
                functions.append(http_function(function, binding))
            except RouteTemplateError as exc:
                raise HostConfigurationError(f"{function.get_function_name()}: {exc}") from None
    return functions


def discover_timers(app: func.FunctionApp, now: float) -> list[TimerFunction]:
    """The timer-triggered functions, from their `timerTrigger` bindings, scheduled from `now`."""
    timers: list[TimerFunction] = []
    for function in _functions_of(app):
        binding = _trigger_binding(json.loads(function.get_function_json()), "timerTrigger")
        if binding is not None:
            try:
                timers.append(timer_function(function, binding, now))
            except ScheduleError as exc:
                raise HostConfigurationError(f"{function.get_function_name()}: {exc}") from None
    return timers


def to_functions_message(message: BrokerMessage) -> ServiceBusMessage:
    """The object the Python worker hands a Service Bus trigger."""
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        application_properties=dict(message.application_properties),
        user_properties=dict(message.application_properties),
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time,
        enqueued_sequence_number=message.sequence_number,
        sequence_number=message.sequence_number,
        label=message.subject,
        subject=message.subject,
        lock_token=message.lock_token,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
    )


class LocalHost:
    def __init__(
        self,
        app: func.FunctionApp,
        broker: InMemoryServiceBus,
        *,
        concurrency: int | None = None,
        time_warp: bool = True,
        shared_slots: bool = False,
        function_key: str | None = None,
        master_key: str | None = None,
    ) -> None:
        self.broker = broker
        self.functions = discover(app, broker)
        self.timers = discover_timers(app, broker.now())
        # The keys `authLevel` function/admin ask for (`code` or `x-functions-key`); random
        # per host unless given, as `func start` makes its own.
        self.http_app = HttpTriggerApp(
            discover_http(app),
            function_key=function_key or secrets.token_urlsafe(24),
            master_key=master_key or secrets.token_urlsafe(32),
            on_invoke=self._count_invocation,
        )
        self.concurrency = concurrency or max_concurrent_calls()
        self.time_warp = time_warp
        # One pool of `concurrency` slots for all functions instead of one per function (as the
        # Functions host does): the pipeline benchmark's bound on API calls in flight.
        self.shared_slots = shared_slots
        self.invocations = 0

    @property
    def function_key(self) -> str:
        return self.http_app.function_key

    @property
    def master_key(self) -> str:
        return self.http_app.master_key

    def _count_invocation(self) -> None:
        self.invocations += 1

    @asynccontextmanager
    async def serve_http(self) -> AsyncIterator[str]:
        """Serve the HTTP triggers on 127.0.0.1 and a free port; yields the base URL (functions
        are under `<url>/api/<route>`)."""
        async with serving(self.http_app) as url:
            yield url

    def _start_due_timers(self, tasks: set[asyncio.Task[None]]) -> bool:
        now = self.broker.now()
        started = False
        for timer in self.timers:
            if timer.due(now):
                task = asyncio.create_task(self._invoke_timer(timer, timer.take(now)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                started = True
        return started

    async def fire_timer(self, name: str) -> None:
        """Run a timer function now, whatever its schedule (as the host's admin endpoint does)."""
        timer = next((t for t in self.timers if t.name == name), None)
        if timer is None:
            raise KeyError(name)
        await self._invoke_timer(timer, TimerRequest(past_due=False))

    async def _invoke_timer(self, timer: TimerFunction, request: TimerRequest) -> None:
        self.invocations += 1
        try:
            result = timer.call(**{timer.arg_name: request})
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # the host logs a failed run; the schedule goes on
            log.warning("timer %s raised %s", timer.name, type(exc).__name__)

    async def run_until_idle(self, limit_seconds: float = 300.0) -> bool:
        """Dispatch until nothing is left to deliver. False if the real-time limit ran out."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + limit_seconds
        shared = asyncio.Semaphore(self.concurrency) if self.shared_slots else None
        gates = {f.name: shared or asyncio.Semaphore(self.concurrency) for f in self.functions}
        tasks: set[asyncio.Task[None]] = set()
        while loop.time() < give_up_at:
            started = self._start_due_timers(tasks)
            for function in self.functions:
                gate = gates[function.name]
                while not gate.locked():
                    message = function.entity.receive()
                    if message is None:
                        break
                    await gate.acquire()
                    task = asyncio.create_task(self._invoke(function, message, gate))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    started = True
            if started:
                await asyncio.sleep(0)
                continue
            if not tasks and not self._skip_ahead():
                return True
            await self.broker.wait(min(0.05, max(0.0, give_up_at - loop.time())))
        for task in tasks:
            task.cancel()
        return False

    def _skip_ahead(self) -> bool:
        """True while something will become deliverable; skips the wait when warping."""
        # Entities nobody here consumes (the `outcomes` subscription: the CRM's) never drain.
        pending = [f.entity for f in self.functions if f.entity.pending_count()]
        if not pending:
            return False
        due = [t for e in pending if (t := e.next_due()) is not None]
        if due:  # warping past a timer's occurrence would skip it: stop there too
            due += [timer.next_due for timer in self.timers]
        if self.time_warp and due and not any(e.active_count() for e in pending):
            self.broker.advance_to(min(due))
        return True

    async def _invoke(
        self, function: LocalFunction, message: BrokerMessage, gate: asyncio.Semaphore
    ) -> None:
        """One slot: invoke, settle, and go on with the next message the slot may take."""
        next_message: tuple[LocalFunction, BrokerMessage] | None = (function, message)
        try:
            while next_message is not None:
                function, message = next_message
                await self._invoke_once(function, message)
                next_message = self._next_for(function)
        finally:
            gate.release()
            self.broker.wake()

    def _next_for(self, function: LocalFunction) -> tuple[LocalFunction, BrokerMessage] | None:
        """The next message for a slot that just ran `function`: that function's own, or with
        shared slots any function's, starting with the one after it (so none is starved)."""
        if not self.shared_slots:
            message = function.entity.receive()
            return (function, message) if message is not None else None
        start = self.functions.index(function) + 1
        for candidate in self.functions[start:] + self.functions[:start]:
            message = candidate.entity.receive()
            if message is not None:
                return candidate, message
        return None

    async def _invoke_once(self, function: LocalFunction, message: BrokerMessage) -> None:
        self.invocations += 1
        message.locked_until = float("inf")  # the Functions host renews locks while it runs
        try:
            await function.call(**{function.arg_name: to_functions_message(message)})
        except WorkerCrash:
            # A dead worker renews nothing: the lock lapses and the message comes back.
            message.locked_until = self.broker.now() + function.entity.lock_seconds
            log.info("worker crash injected", extra={"function": function.name})
        except Exception as exc:
            log.debug("invocation raised %s: abandoning", type(exc).__name__)
            self._settle(function.entity.abandon, message)
        else:
            self._settle(function.entity.complete, message)

    @staticmethod
    def _settle(settle: Callable[[BrokerMessage], None], message: BrokerMessage) -> None:
        try:
            settle(message)
        except LockLostError:
            log.warning("lock lost before settlement: the message will be redelivered")

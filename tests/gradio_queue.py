"""A raw client of a Gradio app's queue (`/gradio_api/queue/join`, then the SSE stream of `/queue/data`), as a
browser or a script drives it: events named by their `api_name`, inputs by their `elem_id` or component type."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


class QueueClient:
    """One page session of the app at the client's base URL (its cookies kept by `client`)."""

    def __init__(self, client: httpx.Client, prefix: str = "", session_hash: str | None = None) -> None:
        self.client, self.prefix = client, prefix.rstrip("/")
        self.session_hash = session_hash or secrets.token_hex(6)
        self._config: dict[str, Any] | None = None

    def load_page(self) -> httpx.Response:
        page = self.client.get(f"{self.prefix}/")
        page.raise_for_status()
        return page

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self.client.get(f"{self.prefix}/config").raise_for_status().json()
        return self._config

    def dependency(self, api_name: str) -> dict[str, Any]:
        return next(d for d in self.config["dependencies"] if d.get("api_name") == api_name)

    def inputs(self, api_name: str, values: dict[str, Any]) -> list[Any]:
        """The event's input list: a value given by elem_id or by component type, else the component's default
        (None for server-side State)."""
        components = {c["id"]: c for c in self.config["components"]}
        data = []
        for component_id in self.dependency(api_name)["inputs"]:
            component = components[component_id]
            elem_id, kind = component["props"].get("elem_id"), component["type"]
            default = None if kind == "state" else component["props"].get("value")
            data.append(values.get(elem_id, values.get(kind, default)))
        return data

    def join(self, api_name: str, values: dict[str, Any], event_data: Any = None,
             session_hash: str | None = None) -> httpx.Response:
        """Queue the event without waiting for it (its answer: the join response)."""
        dependency = self.dependency(api_name)
        return self.client.post(f"{self.prefix}/gradio_api/queue/join", json={
            "data": self.inputs(api_name, values), "fn_index": dependency["id"], "event_data": event_data,
            "trigger_id": (dependency.get("targets") or [[None]])[0][0],
            "session_hash": session_hash or self.session_hash})

    def run(self, api_name: str, values: dict[str, Any], event_data: Any = None) -> dict[str, Any]:
        """Queue the event and read the session's stream until it completes; the `process_completed` message."""
        joined = self.join(api_name, values, event_data)
        joined.raise_for_status()
        return self.completed(self.session_hash)

    def completed(self, session_hash: str) -> dict[str, Any]:
        with self.client.stream("GET", f"{self.prefix}/gradio_api/queue/data",
                                params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
        raise AssertionError(f"the stream of session {session_hash} ended before its event completed")

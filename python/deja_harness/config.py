"""What the Rust side asks a session for, as one typed value.

``Config`` mirrors deja's Rust ``CodeConfig`` field for field: Rust sends it as
JSON (``Config.from_json``), the self-test and the bench build it from a dict.
Unknown keys and wrong types are refused here, by name, so the two sides cannot
drift apart silently.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from .errors import HarnessError


@dataclasses.dataclass(frozen=True)
class Config:
    workflows: tuple[str, ...] = ()
    python_path: tuple[str, ...] = ()
    unsandboxed: bool = False
    #: Re-import the workflow module for every history (the SDK's way).
    fresh_sandbox: bool = False
    data_converter: str | None = None
    interceptors: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()
    record_state: bool = False
    debug_mode: bool = False

    @classmethod
    def from_dict(cls, d: Any) -> "Config":
        if isinstance(d, Config):
            return d
        if not isinstance(d, dict):
            raise HarnessError("bad-spec", f"config must be a dict, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise HarnessError("bad-spec", f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        out: dict = {}
        for name, value in d.items():
            default = fields[name].default
            if value is None:
                continue  # the default
            if isinstance(default, tuple):
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise HarnessError("bad-spec", f"config key {name} must be a list of strings")
                value = tuple(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise HarnessError("bad-spec", f"config key {name} must be true or false")
            elif not isinstance(value, str):
                raise HarnessError("bad-spec", f"config key {name} must be a string")
            out[name] = value
        return cls(**out)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise HarnessError("bad-spec", f"config is not JSON: {exc}") from None
        return cls.from_dict(d)

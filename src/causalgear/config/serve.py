"""`serve`: the steering HTTP server's group."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from causalgear.config.checks import ConfigError, _at_least, _positive

ServeMode = StrEnum("ServeMode", [(v, v) for v in ("clamp", "zero", "additive", "grains", "none")])
SAEQuantization = StrEnum("SAEQuantization", [(v, v) for v in ("none", "nf4")])


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"  # loopback: expose it on purpose (host=0.0.0.0), never by default
    port: int = 8765
    # Host names answered besides the address it listens on (serve/guard.py: DNS rebinding)
    allowed_hosts: list[str] = field(default_factory=list)
    # web front ends allowed to call it from a browser, e.g. [http://localhost:3000]
    allowed_origins: list[str] = field(default_factory=list)
    sae_quantization: SAEQuantization = SAEQuantization.none  # nf4: bitsandbytes' 4-bit NormalFloat
    # the coordinate a request steers when it names none (None: steering.feature or evaluate's choice)
    feature: int | None = None
    mode: ServeMode = ServeMode.clamp  # none: no steering
    # clamp: z_j = scale x its mean active value; additive: alpha; grains: share of each embedding's norm
    scale: float = 2.0
    max_new_tokens: int = 64  # a request's default
    max_new_tokens_limit: int = 256
    # the bound on one request's time and memory is in tokens (a character can be three of them)
    max_prompt_tokens: int = 1024
    max_body_bytes: int = 65536
    max_queue: int = 32  # requests waiting or running; one more gets 503
    request_timeout_s: float = 30.0
    grains_ig_steps: int = 16
    top_tokens: int = 10  # GET /features/{j}
    # torch threads of the model worker (0: torch's default); requests run one at a time
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError("serve.port", self.port, "1..65535")
        _positive("serve", self, "max_new_tokens", "max_new_tokens_limit", "max_prompt_tokens", "max_body_bytes",
                  "max_queue", "grains_ig_steps", "top_tokens")
        if self.max_new_tokens > self.max_new_tokens_limit:
            raise ConfigError("serve.max_new_tokens", self.max_new_tokens,
                              f"at most serve.max_new_tokens_limit={self.max_new_tokens_limit}")
        _at_least("serve.threads", self.threads, 0, "an integer >= 0 (0: torch's default)")
        _at_least("serve.request_timeout_s", self.request_timeout_s, 0, "a number of seconds > 0", strict=True)
        if self.feature is not None:
            _at_least("serve.feature", self.feature, 0, "a coordinate index >= 0, or null")

"""The ``shared_state:`` section: validated with file:line, the URL only from the environment,
masked in ``config check``; the redis backend only where there is someone to share with."""

from __future__ import annotations

import pytest

from kashbot.config import ConfigError, effective_config_yaml, parse_config

URL = "redis://:hunter2pass@127.0.0.1:6379/0"
LIVE = (
    "venue:\n  mode: live\n  api_key: ${KASH_API_KEY}\n  base_url: http://127.0.0.1:1/v1\n"
    "account:\n  user_id: desk\n  tier: developer\n"
    "sources:\n  webhook: {enabled: false}\n  stream: {enabled: false}\n"
    "control: {port: 0}\n"
)
ENV = {"KASH_API_KEY": "kash_test_p3SKQOo6Cd6rvau5kHvRwMzzuVtYkwMJ", "KASH_REDIS_URL": URL}


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml", ENV if env is None else env)
    return info.value.problems


def test_default_is_embedded() -> None:
    cfg = parse_config("venue: {mode: paper}\n", "t.yaml", {})
    assert cfg.shared_state.backend == "embedded" and not cfg.shared_state.shared
    assert cfg.shared_state.adopt_interval_s == 60  # about one GET /v1/trades a minute


def test_redis_from_env_is_masked_in_config_check() -> None:
    text = LIVE + "shared_state:\n  backend: redis\n  url: ${KASH_REDIS_URL}\n  lease_s: 12\n"
    cfg = parse_config(text, "t.yaml", ENV)
    assert cfg.shared_state.shared and cfg.shared_state.redis_url() == URL
    shown = effective_config_yaml(cfg)
    assert "hunter2pass" not in shown and "shared_state:" in shown and "lease_s: 12" in shown
    assert "hunter2pass" not in repr(cfg)


def test_literal_url_is_refused_with_its_line_and_not_echoed() -> None:
    text = LIVE + "shared_state:\n  backend: redis\n  url: " + URL + "\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (14, "shared_state.url")
    assert "${" in msg and "hunter2pass" not in msg


def test_redis_needs_a_url_of_a_redis_scheme() -> None:
    [(line, path, msg)] = problems(LIVE + "shared_state:\n  backend: redis\n")
    assert (line, path) == (12, "shared_state") and msg.startswith("url: required")
    env = {**ENV, "KASH_REDIS_URL": "http://127.0.0.1:6379"}
    text = LIVE + "shared_state:\n  backend: redis\n  url: ${KASH_REDIS_URL}\n"
    [(_, _, msg)] = problems(text, env)
    assert "redis://" in msg and "'http'" in msg


def test_unknown_key_and_bad_values_name_their_line() -> None:
    text = LIVE + "shared_state:\n  backend: etcd\n  lease_seconds: 3\n"
    found = {(line, path) for line, path, _ in problems(text)}
    assert found == {(13, "shared_state.backend"), (14, "shared_state.lease_seconds")}


def test_redis_refused_in_paper_mode_and_without_a_user() -> None:
    text = "venue: {mode: paper}\nshared_state:\n  backend: redis\n  url: ${KASH_REDIS_URL}\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (3, "shared_state.backend") and "paper" in msg
    anon = LIVE.replace("  user_id: desk\n", "")
    text = anon + "shared_state:\n  backend: redis\n  url: ${KASH_REDIS_URL}\n"
    [(line, path, msg)] = problems(text)
    assert path == "account.user_id" and "redis" in msg


def test_heartbeat_must_fit_the_member_ttl() -> None:
    text = LIVE + "shared_state:\n  heartbeat_s: 5\n  member_ttl_s: 5\n"
    [(_, path, msg)] = problems(text)
    assert path == "shared_state" and msg.startswith("member_ttl_s")


def test_sells_when_unavailable_without_a_fallback_budget_is_refused() -> None:
    # review finding: while Redis is down every request waits for it unless there is an
    # in-process fallback budget, so sells_when_unavailable alone let no sell out
    base = LIVE + "shared_state:\n  backend: redis\n  url: ${KASH_REDIS_URL}\n"
    [(line, path, msg)] = problems(base + "  sells_when_unavailable: true\n")
    assert (line, path) == (12, "shared_state")
    assert "sells_when_unavailable" in msg and "budget_fallback_share" in msg
    both = "  sells_when_unavailable: true\n  budget_fallback_share: 0.2\n"
    cfg = parse_config(base + both, "t.yaml", ENV)
    assert cfg.shared_state.sells_when_unavailable
    assert cfg.shared_state.budget_fallback_share == 0.2

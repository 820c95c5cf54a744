"""The service's configuration and its audit log, without a model: token files, the state folder, rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.audit import AuditLog
from serving.config import ServiceSettings

TOKEN = "serving-test-token-0123456789"


def test_an_indented_comment_in_the_token_file_is_not_a_token(tmp_path: Path) -> None:
    revoked = "revoked-token-0123456789abcdef"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# active\n{TOKEN}\n   # revoked: {revoked}\n\t#{revoked}\n")
    settings = ServiceSettings.from_env({"ALSSTRAT_API_TOKEN_FILE": str(tokens)})
    assert settings.tokens == (TOKEN,)


def test_the_audit_log_lives_in_a_state_folder_outside_the_checkout(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"ALSSTRAT_API_TOKENS": TOKEN}
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ServiceSettings.from_env(base).audit_log == tmp_path / "home" / ".local" / "state" / "alsstrat" / \
        "audit.jsonl"
    assert ServiceSettings.from_env({**base, "XDG_STATE_HOME": str(tmp_path / "xdg")}).audit_log == \
        tmp_path / "xdg" / "alsstrat" / "audit.jsonl"
    assert ServiceSettings.from_env({**base, "ALSSTRAT_STATE_DIR": str(tmp_path / "state")}).audit_log == \
        tmp_path / "state" / "audit.jsonl"
    explicit = ServiceSettings.from_env({**base, "ALSSTRAT_STATE_DIR": str(tmp_path / "state"),
                                         "ALSSTRAT_AUDIT_LOG": str(tmp_path / "a.jsonl")})
    assert explicit.audit_log == tmp_path / "a.jsonl"
    limits = ServiceSettings.from_env({**base, "ALSSTRAT_AUDIT_MAX_BYTES": "1000", "ALSSTRAT_AUDIT_BACKUPS": "3"})
    assert (limits.audit_max_bytes, limits.audit_backups) == (1000, 3)


def _lines(paths: list[Path]) -> list[dict[str, object]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


def test_the_audit_log_rotates_by_size_and_keeps_its_backups(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    log = AuditLog(path, "salt", max_bytes=400, backups=3)
    for i in range(60):
        log.record(request_id=f"r{i}", rows_scored=1)
    log.close()
    rotated = log.rotated()
    assert len(rotated) == 3
    assert path.stat().st_size <= 400
    kept = [line["request_id"] for line in _lines([*rotated, path])]
    assert kept == [f"r{i}" for i in range(60 - len(kept), 60)], "the newest lines, whole and in order"


def test_two_workers_share_one_rotating_log_without_losing_a_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = (AuditLog(path, "salt", max_bytes=1_000, backups=1_000) for _ in range(2))
    for i in range(100):
        (first if i % 2 else second).record(request_id=f"r{i}", rows_scored=1)
    first.close()
    second.close()
    lines = _lines([*first.rotated(), path])
    assert sorted(int(str(line["request_id"])[1:]) for line in lines) == list(range(100))
    assert len(first.rotated()) > 3


def test_a_config_error_reads_as_words_without_pydantic_links(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from training.cli.app import app

    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  sourse: synthetic\n")
    result = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "  - data.sourse: unknown setting (check its spelling)" in result.stderr
    assert "pydantic.dev" not in result.output
    assert "input_value" not in result.output

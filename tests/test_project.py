"""The README's promises: two set-up commands, and CI runs the test one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    try_it = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", try_it)


def test_readme_gives_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    demo, tests = commands
    assert demo.endswith("finops-bot demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_the_image_runs_as_a_user_with_a_healthcheck_on_the_served_port() -> None:
    """No Docker daemon here: the Dockerfile's promises are read, and its health probe is run
    against a server that answers like /healthz."""
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^RUN useradd .*--uid 10001 .*" + users[-1], text, re.MULTILINE)
    (port,) = re.findall(r"^EXPOSE (\d+)", text, re.MULTILINE)
    assert f'"run", "--http", "{port}"' in text
    probe = re.search(r'^\s+CMD \["python", "-c", "(.+)"\]$', text, re.MULTILINE)
    assert probe is not None and f"127.0.0.1:{port}/healthz" in probe.group(1)

    import http.server
    import threading

    answers = iter([200, 503])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.path == "/healthz"
            self.send_response(next(answers))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = probe.group(1).replace(f"127.0.0.1:{port}", f"127.0.0.1:{server.server_port}")
    try:
        ok = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        failing = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert ok.returncode == 0 and failing.returncode != 0


def test_every_toml_example_in_the_readme_is_a_valid_configuration(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.settings import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) >= 3
    for n, block in enumerate(blocks):
        path = tmp_path / f"example{n}.toml"
        path.write_text(block)
        clean_env.setenv("FINOPS_CONFIG", str(path))
        load_settings()  # raises ConfigError naming the key that is wrong

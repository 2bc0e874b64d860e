"""Server security of the real app: Gradio's file route, blocked paths, auth on every route,
errors without secrets. Each test launches build_app(settings) with launch_kwargs(settings)."""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.integration

FAKE_KEY = "sk-test-FAKE0123456789abcdefSECRET"
MARK = "TOP-SECRET-MARKER"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data_dir: Path):
    """A working directory with secrets in every place the app keeps files, and one public file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"WB_OPENAI_API_KEY={FAKE_KEY}\n# {MARK}\n")
    for folder, name in [("data", "secret.txt"), ("knowledge-base", "doc.md"), ("models", "m.gguf")]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(f"{MARK} {folder}\n")
    (tmp_path / "data" / "models").mkdir()
    for gguf in (shared_data_dir / "models").glob("*.gguf"):
        (tmp_path / "data" / "models" / gguf.name).symlink_to(gguf)
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "readme.txt").write_text("hello, public file\n")
    return tmp_path


def _settings(tree: Path, **kw):
    from settings import Settings

    return Settings(
        _env_file=None,
        data_dir=tree / "data",
        kb_dir=tree / "knowledge-base",
        models_dir=tree / "models",
        port=free_port(),
        llama_threads=1,
        **kw,
    )


def _launch(settings, tree: Path):
    """Launch as ``main()`` does (UI + the HTTP APIs on the same server)."""
    import app

    deps = app.Deps(settings)
    demo = app.build_app(settings, deps)
    kwargs = app.launch_kwargs(settings)
    # Worst case: a tab allows the whole working directory; blocked paths must still win.
    kwargs["allowed_paths"] = [str(tree)]
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs, **app.api_kwargs(demo, deps))
    return demo


def _get(base: str, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, str]:
    """A request with the path sent byte for byte (no client-side normalisation of .. or %)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_launch_kwargs_block_data_kb_models_and_secrets_with_absolute_paths(tree):
    import app

    kw = app.launch_kwargs(_settings(tree))
    blocked = set(kw["blocked_paths"])
    assert all(Path(p).is_absolute() for p in blocked)
    for p in ("data", "knowledge-base", "models", ".env", ".git"):
        assert str(tree / p) in blocked
    assert kw["max_file_size"] and kw["enable_monitoring"] is False
    assert kw["show_error"] is True  # local use: errors help
    public = app.launch_kwargs(_settings(tree, host="0.0.0.0", auth="u:pw"))
    assert public["show_error"] is False and public["run_history"] is False and public["auth"] == ("u", "pw")
    with pytest.raises(app.PublicWithoutAuth):
        app.launch_kwargs(_settings(tree, share=True))


def _variants(tree: Path) -> list[str]:
    t = str(tree)
    raw = [
        "/etc/passwd",
        "/etc//passwd",
        "/ETC/PASSWD",
        "/etc/./passwd",
        f"{t}/.env",
        ".env",
        "./.env",
        f"{t}/public/../.env",
        f"{t}/public/..%2f.env",
        f"{t}/public/%2e%2e/.env",
        f"{t}/public/%2E%2E%2F.env",
        f"{t}/public/%252e%252e/.env",
        f"{t}/public/..\\.env",
        f"{t}/.ENV",
        f"{t}/public/../../../../etc/passwd",
        "../../../../../../etc/passwd",
        "..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"{t}/data/secret.txt",
        f"{t}/DATA/secret.txt",
        f"{t}/Data/../data/secret.txt",
        f"{t}/data",
        f"{t}/knowledge-base/doc.md",
        f"{t}/Knowledge-Base/doc.md",
        f"{t}/models/m.gguf",
        f"{t}/public/../models/m.gguf",
        "data/secret.txt",
        "knowledge-base/doc.md",
        # SSRF through the URL form of the route (gradio #13593: fetched via safehttpx, public IPs only)
        "http://127.0.0.1:1/config",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
    ]
    return raw + [quote(p, safe="") for p in raw if "%" not in p]


def test_the_file_route_never_serves_secrets(tree):
    settings = _settings(tree)
    demo = _launch(settings, tree)
    base = demo.local_url.rstrip("/")
    try:
        # Positive control: the route works and serves an allowed file.
        status, body = _get(base, f"/gradio_api/file={tree}/public/readme.txt")
        assert status == 200 and "public file" in body
        failures = []
        for path in _variants(tree):
            for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
                for method in ("GET", "HEAD"):
                    status, body = _get(base, prefix + path, method)
                    if status == 200 or MARK in body or "root:x:0:0" in body or FAKE_KEY in body:
                        failures.append((method, prefix + path, status))
        assert failures == []
    finally:
        demo.close()


# Routes that answer without a login by design: the login page and its assets, and endpoints
# that only echo the caller's own cookie or validate a body before doing anything.
PUBLIC = re.compile(
    r"^/(|favicon\.ico|theme\.css|robots\.txt|manifest\.json|pwa_icon.*|static/.*|assets/.*|svelte/.*|"
    r"login/?|logout|gradio_api/(user|token|app_id|runs|startup-events|theme\.css|heartbeat/.*)/?)$"
)
MUST_AUTH = [
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("GET", "/gradio_api/openapi.json"),
    ("GET", "/gradio_api/file={t}/public/readme.txt"),
    ("GET", "/gradio_api/file/{t}/public/readme.txt"),
    ("POST", "/gradio_api/run/predict"),
    ("POST", "/gradio_api/run/status"),
    ("POST", "/gradio_api/call/status"),
    ("POST", "/gradio_api/api/status"),
    ("POST", "/gradio_api/queue/join"),
    ("GET", "/gradio_api/queue/data?session_hash=x"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/monitoring"),
    ("GET", "/monitoring/summary"),
    ("GET", "/gradio_api/proxy=http://127.0.0.1:1/x"),
    ("POST", "/gradio_api/component_server"),
    ("GET", "/v1/models"),  # the OpenAI-compatible API checks a bearer key itself
    ("POST", "/v1/chat/completions"),
]


def test_with_auth_every_route_needs_the_login(tree):
    settings = _settings(tree, auth="alice:wonderland-42")
    demo = _launch(settings, tree)
    base = demo.local_url.rstrip("/")
    try:
        for method, path in MUST_AUTH:
            status, _ = _get(base, path.format(t=tree), method, {"Content-Type": "application/json"})
            assert status in (401, 403), (method, path, status)
        # Every other documented route: no 2xx without the cookie unless it is public by design.
        import json

        spec = json.loads(_get(base, "/openapi.json")[1])
        open_routes = []
        for path, ops in spec["paths"].items():
            concrete = re.sub(r"\{[^}]+\}", "x", path.replace("{path_or_url}", f"{tree}/public/readme.txt"))
            for method in ops:
                if method.upper() not in ("GET", "POST", "HEAD") or "heartbeat" in path:
                    continue
                status, _ = _get(base, concrete, method.upper(), {"Content-Type": "application/json"})
                if 200 <= status < 300 and not PUBLIC.match(path):
                    open_routes.append((method, path, status))
        assert open_routes == []
        # Positive control: after logging in, the same requests succeed.
        import httpx

        with httpx.Client(base_url=base) as client:
            r = client.post("/login", data={"username": "alice", "password": "wonderland-42"})
            assert r.status_code == 200, r.text
            assert client.get("/config").status_code == 200
            assert client.get(f"/gradio_api/file={tree}/public/readme.txt").status_code == 200
            assert client.post("/login", data={"username": "alice", "password": "nope"}).status_code == 400
    finally:
        demo.close()


@pytest.mark.parametrize("public", [True, False])
def test_direct_run_posts_are_refused_when_public(tree, public):
    """Public mode: events only go through the queue (its size and concurrency limits apply);
    a direct ``/gradio_api/run/<api_name>`` POST is refused. Locally it is allowed."""
    import httpx

    from tests.helpers import in_process_app

    s = _settings(tree, share=True, auth="u:pw") if public else _settings(tree)
    with in_process_app(s) as (demo, _client):  # launched without auth: only the queue setting differs
        r = httpx.post(demo.local_url + "gradio_api/run/status", json={"data": []}, timeout=60)
    if public:
        assert r.status_code == 404 and "join the queue" in r.text, r.text
    else:
        assert r.status_code == 200 and "llama_cpp" in r.text, r.text

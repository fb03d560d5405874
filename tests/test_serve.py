"""`nnctl serve`: a real server on loopback, good and bad requests from concurrent clients, the
micro-batcher on its own, and the console command started and stopped as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from nnctl.serve.app import create_app
from nnctl.serve.batcher import MicroBatcher
from nnctl.serve.server import bind, load_model, make_server
from nnctl.train.trainer import train as run_train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "datasets" / "iris.csv"
COLS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve") / "iris"
    run_train(ROOT / "configs" / "iris.yaml", run_dir=d, overrides=["train.epochs=4"], quiet=True)
    return d


@pytest.fixture(scope="module")
def server(iris_run: Path):  # noqa: ANN201
    model = load_model(iris_run)
    app = create_app(model, max_body=MAX_BODY, max_rows=300, max_wait=0.005)
    sock = bind("127.0.0.1", 0)
    srv = make_server(app)
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    for _ in range(400):  # bounded wait for start-up
        if srv.started:
            break
        time.sleep(0.025)
    assert srv.started, "server did not start"
    host, port = sock.getsockname()[:2]
    yield f"http://{host}:{port}", model
    srv.should_exit = True
    th.join(timeout=10)
    sock.close()
    model.close()


def _iris_rows() -> tuple[list[dict], np.ndarray]:
    lines = IRIS.read_text().splitlines()
    header = lines[0].split(",")
    rows, xs = [], []
    for line in lines[1:40:3]:
        cells = line.split(",")
        rows.append(dict(zip(header, [float(c) if i < 4 else c for i, c in enumerate(cells)])))
        xs.append([float(c) for c in cells[:4]])
    return rows, np.asarray(xs, dtype=np.float32)


def test_health_model_and_good_predictions(server: tuple) -> None:
    url, model = server
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        assert c.get("/v1/health").status_code == 200
        sig = c.get("/v1/model").json()
        assert sig["inputs"]["columns"] == COLS and sig["class_names"] == ["setosa", "versicolor", "virginica"]
        assert sig["outputs"]["columns"] == sig["class_names"] and "standardize" in json.dumps(sig["preprocessing"])
        rows, x = _iris_rows()
        expect = model.predict([{c: r[c] for c in COLS} for r in rows])  # raw rows, as nnctl predict reads them
        # rows as in the training file (label column included and ignored), as arrays, as numeric strings
        for body in ({"rows": rows}, {"instances": [list(map(float, r)) for r in x]},
                     {"rows": [{k: str(v) for k, v in r.items()} for r in rows]}):
            r = c.post("/v1/predict", json=body)
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["rows"] == len(rows) and out["columns"] == sig["class_names"]
            got = np.array([[p[k] for k in sig["class_names"]] for p in out["predictions"]])
            np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-7)
            names = np.array(sig["class_names"])[expect.argmax(axis=1)]
            assert [p["predicted"] for p in out["predictions"]] == list(names)


BAD = [
    (b'{"rows": [[1, 2, ', 400, "not valid JSON"),
    (b"", 400, "empty request body"),
    (b'{"rows": [[1, 2, NaN, 3]]}', 400, "NaN"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b'{"rows": []}', 422, "empty"),
    (b'{"rows": {"a": 1}}', 422, "JSON array"),
    (b'{"data": []}', 422, "expected a JSON object"),
    (b'[1, 2]', 422, "rows[0]"),
    (b'"hello"', 422, "expected a JSON object"),
    (b'{"rows": [[1, 2, 3]]}', 422, "expected 4"),
    (b'{"rows": [[1, 2, "x", 3]]}', 422, "expected a number, got 'x'"),
    (b'{"rows": [[1, 2, true, 3]]}', 422, "true"),
    (b'{"rows": [[1, 2, 1e300, 3]]}', 422, "float32"),
    (b'{"rows": [{"sepal_lenght": 1}]}', 422, "unknown column 'sepal_lenght' (did you mean 'sepal_length'?)"),
    (b'{"rows": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}]}', 422, "missing column 'petal_width'"),
    (b'{"rows": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": "NA", "x": 1}]}', 422,
     "unknown column 'x'"),
    (b'{"rows": [{"sepal_length": [1], "sepal_width": 2, "petal_length": 3, "petal_width": 4}]}', 422, "array"),
    (b'{"rows": [[1, 2, 3, 4]], "extra": 1}', 422, "unknown key 'extra'"),
    (b'{"rows": [' + b",".join([b"[1, 2, 3, 4]"] * 301) + b"]}", 413, "too many rows"),
    (b'{"rows": [[' + b"1, " * 30000 + b"1]]}", 413, "larger than the limit"),
]


def test_bad_requests_get_4xx_json(server: tuple) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=30) as c:
        for body, status, message in BAD:
            r = c.post("/v1/predict", content=body, headers={"content-type": "application/json"})
            assert r.status_code == status, (body[:60], r.text)
            assert message in r.json()["error"], (body[:60], r.text)
        # a chunked body (no Content-Length) over the limit is cut off too
        r = c.post("/v1/predict", content=iter([b'{"rows": [[' + b"1, " * 10000] * 4))
        assert r.status_code == 413
        assert c.get("/nope").status_code == 404 and "no route" in c.get("/nope").json()["error"]
        r = c.get("/v1/predict")
        assert r.status_code == 405 and "GET" in r.json()["error"]
        # a gap (null, "", "NA") is a missing value that the model fills as in training
        r = c.post("/v1/predict", json={"rows": [[5.1, None, "NA", 0.2], [5.1, "", 1.4, 0.2]]})
        assert r.status_code == 200 and r.json()["rows"] == 2
        assert c.get("/healthz").status_code == 200


def test_concurrent_clients_good_and_bad(server: tuple) -> None:
    url, model = server
    rng = np.random.default_rng(0)
    before = httpx.get(url + "/v1/model").json()["stats"]

    def client(k: int) -> list[tuple[bool, int, object]]:
        res = []
        with httpx.Client(base_url=url, timeout=60) as c:
            for i in range(12):  # bounded loop per client
                if (k + i) % 3 == 0:
                    r = c.post("/v1/predict", content=b'{"rows": [[1, "a", 3, 4]]}')
                    res.append((False, r.status_code, r.json()))
                else:
                    x = rng.uniform(0, 8, (1 + (k + i) % 5, 4)).round(3)
                    r = c.post("/v1/predict", json={"rows": x.tolist()})
                    res.append((True, r.status_code, (x, r.json())))
        return res

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for rs in pool.map(client, range(8)) for r in rs]
    good = 0
    for ok, status, payload in results:
        if not ok:
            assert 400 <= status < 500 and "sepal_width" in payload["error"]  # type: ignore[index]
            continue
        assert status == 200, payload
        good += 1
        x, out = payload  # type: ignore[misc]
        cols = out["columns"]
        got = np.array([[p[c] for c in cols] for p in out["predictions"]])
        rows = [dict(zip(COLS, map(float, r))) for r in x]
        np.testing.assert_allclose(got, model.predict(rows), rtol=1e-5, atol=1e-6)
    stats = httpx.get(url + "/v1/model").json()["stats"]
    assert stats["requests"] - before["requests"] == good
    assert 1 <= stats["batches"] - before["batches"] <= good
    assert httpx.get(url + "/healthz").json()["status"] == "ok"


def test_micro_batcher_joins_concurrent_requests_and_isolates_failures() -> None:
    calls: list[int] = []

    def fn(x: np.ndarray) -> tuple[np.ndarray, ...]:
        calls.append(len(x))
        if (x < 0).any():
            raise ValueError("negative")
        return (x * 2, x.sum(axis=1))

    async def main() -> None:
        b = MicroBatcher(fn, max_batch=5, max_wait=0.5)
        await b.start()
        try:
            xs = [np.full((1, 2), i, np.float32) for i in range(5)]
            outs = await asyncio.gather(*(b.submit(x) for x in xs))
            assert calls == [5] and b.stats.batches == 1 and b.stats.largest_batch == 5
            for x, (dbl, s) in zip(xs, outs):
                np.testing.assert_array_equal(dbl, x * 2)
                np.testing.assert_array_equal(s, x.sum(axis=1))
            res = await asyncio.gather(b.submit(np.full((5, 2), -1, np.float32)), return_exceptions=True)
            assert isinstance(res[0], ValueError)
            ok = await b.submit(np.ones((2, 2), np.float32))  # the batcher keeps serving
            np.testing.assert_array_equal(ok[0], np.full((2, 2), 2))
        finally:
            await b.stop()
    asyncio.run(main())


def test_serve_command_starts_answers_and_stops(iris_run: Path, tmp_path: Path) -> None:
    from nnctl.export import export
    frozen = tmp_path / "iris.frozen"
    export(iris_run, "frozen", frozen)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-m", "nnctl.cli", "serve", str(frozen), "--port", "0"],
                         stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stderr.readline()  # type: ignore[union-attr]
        assert line.startswith("serving "), line
        url = line.split(" on ")[1].split(" ")[0]
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        r = httpx.post(url + "/v1/predict", json={"rows": [[5.1, 3.5, 1.4, 0.2]]}, timeout=30)
        assert r.status_code == 200 and r.json()["predictions"][0]["predicted"] in ("setosa", "versicolor",
                                                                                     "virginica")
        assert json.loads(httpx.get(url + "/v1/model", timeout=5).text)["inputs"]["columns"] == COLS
    finally:
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, as servers do
    # SIGTERM ends the server as it ends every nnctl command: 143 (uvicorn may re-raise the signal: -15)
    assert code in (0, 143, -signal.SIGTERM), p.stderr.read()  # type: ignore[union-attr]


def test_serve_bad_target_and_port(tmp_path: Path, iris_run: Path) -> None:
    from tests.conftest import run_cli
    code, _, err = run_cli("serve", tmp_path / "missing.frozen")
    assert code == 2 and "no such file" in err
    sock = bind("127.0.0.1", 0)
    try:
        code, _, err = run_cli("serve", iris_run, "--port", str(sock.getsockname()[1]))
        assert code == 2 and "cannot listen" in err
    finally:
        sock.close()

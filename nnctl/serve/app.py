"""The prediction service as a Starlette (ASGI) application.

Routes: ``GET /healthz`` and ``GET /v1/health`` (liveness), ``GET /v1/model`` (the signature: the
feature columns and shape, the output columns, class names, preprocessing, batching limits),
``POST /v1/predict`` with ``{"rows": [...]}`` (``"instances"`` is accepted too, as TF Serving
names it) -> ``{"predictions": [...]}``, one object per row, as ``nnctl predict --format json``
writes them. Every error is JSON ``{"error": "..."}`` with a 4xx status for bad requests (400 bad
JSON, 413 body or row count too large, 422 rows that do not fit the model, 404/405) and 500 for a
failure inside the server, which keeps running either way.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from nnctl.errors import DataError
from nnctl.serve.batcher import MicroBatcher
from nnctl.serve.rows import RowError, input_columns, rows_to_features
from nnctl.train.evaluation import predicted_class, probabilities

MAX_BODY = 4 * 1024 * 1024
MAX_ROWS = 10_000


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def model_signature(model: Any, limits: dict[str, Any]) -> dict[str, Any]:
    m = model.meta
    return {
        "name": (m.get("source") or {}).get("config_name"),
        "inputs": {"columns": input_columns(model), "feature_shape": list(model.feature_shape),
                   "dtype": "float32", "row_formats": ["object keyed by column name", "array of feature values"]},
        "outputs": {"columns": model.output_names(), "predicted": model.classification,
                    "kind": "classification" if model.classification else "regression"},
        "class_names": model.class_names,
        "label_columns": model.label_names,
        "preprocessing": (m.get("features") or {}).get("pipeline") or m.get("preprocessor"),
        "head": m.get("head"),
        "checkpoint_step": model.checkpoint_step,
        "created_by": m.get("created_by"),
        "limits": limits,
    }


class PredictService:
    """The model behind the routes: request rows -> prediction objects, through the batcher."""

    def __init__(self, model: Any, max_batch: int = 256, max_wait: float = 0.002) -> None:
        self.model = model
        self.columns = model.output_names()
        names = model.class_names
        k = len(self.columns)
        self.class_labels = [str(n) for n in names] if model.classification and names and len(names) == k else None
        self.batcher = MicroBatcher(self._compute, max_batch=max_batch, max_wait=max_wait)

    def _compute(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        m = self.model
        logits, outputs = m.run(x)
        if m.classification:
            return probabilities(m.head, logits, outputs), predicted_class(m.head, logits, outputs)
        out = np.asarray(outputs, dtype=np.float64)
        pipe = getattr(m, "pipeline", None)
        return (pipe.unscale_targets(out) if pipe is not None else out,)

    async def predict(self, x: np.ndarray) -> list[dict[str, Any]]:
        res = await self.batcher.submit(x)
        values = res[0]
        rows = []
        for i in range(len(values)):
            r: dict[str, Any] = {c: float(v) for c, v in zip(self.columns, values[i])}
            if len(res) > 1:
                idx = int(res[1][i])
                r["predicted"] = self.class_labels[idx] if self.class_labels else idx
            rows.append(r)
        return rows


async def _read_body(request: Any, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise BadRequest(400, f"bad Content-Length header {length[:40]!r}") from None
        if n > limit:
            raise BadRequest(413, f"request body of {n} bytes is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise BadRequest(400, 'empty request body: send JSON {"rows": [...]}')
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest(400, "request body is not UTF-8 text") from None
    except RecursionError:
        raise BadRequest(400, "request body is nested too deeply") from None
    except ValueError as e:
        raise BadRequest(400, f"request body is not valid JSON: {e}") from None


def _rows_of(doc: Any) -> Any:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("rows", "instances"):
            if key in doc:
                extra = sorted(set(doc) - {key})
                if extra:
                    raise BadRequest(422, f"unknown key{'s' if len(extra) > 1 else ''} "
                                          f"{', '.join(repr(k) for k in extra[:5])} next to {key!r}")
                return doc[key]
        raise BadRequest(422, 'expected a JSON object {"rows": [...]} (or "instances"), got keys '
                              + ", ".join(repr(k) for k in list(doc)[:5]))
    raise BadRequest(422, f'expected a JSON object {{"rows": [...]}}, got a JSON {type(doc).__name__}')


def create_app(model: Any, *, max_body: int = MAX_BODY, max_rows: int = MAX_ROWS, max_batch: int = 256,
               max_wait: float = 0.002) -> Any:
    """The Starlette app serving ``model`` (a :class:`~nnctl.export.frozen.FrozenModel`)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    service = PredictService(model, max_batch=max_batch, max_wait=max_wait)
    limits = {"max_body_bytes": max_body, "max_rows": max_rows, "max_batch_rows": service.batcher.max_batch,
              "max_wait_ms": service.batcher.max_wait * 1000}
    signature = model_signature(model, limits)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "status": status}, status_code=status)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": signature["name"]})

    async def model_info(request: Request) -> JSONResponse:
        return JSONResponse({**signature, "stats": service.batcher.stats.to_dict()})

    async def predict(request: Request) -> JSONResponse:
        try:
            doc = _parse(await _read_body(request, max_body))
            rows = _rows_of(doc)
            try:
                x = rows_to_features(model, rows, max_rows)
            except RowError as e:
                status = 413 if str(e).startswith("too many rows") else 422
                raise BadRequest(status, str(e)) from None
            preds = await service.predict(x)
        except BadRequest as e:
            return error(e.status, e.message)
        except DataError as e:
            return error(422, str(e))
        return JSONResponse({"predictions": preds, "columns": service.columns, "rows": len(preds)})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or ""
        if status == 404:
            detail = f"no route {request.url.path}; try GET /v1/model, GET /healthz or POST /v1/predict"
        elif status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return error(status, str(detail))

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.stop()

    routes = [Route("/healthz", health, methods=["GET"]), Route("/v1/health", health, methods=["GET"]),
              Route("/v1/model", model_info, methods=["GET"]), Route("/v1/predict", predict, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.service = service
    return app

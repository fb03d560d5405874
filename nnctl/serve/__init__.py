"""``nnctl serve``: an HTTP JSON prediction service for a frozen model or a run.

* :mod:`nnctl.serve.rows`: request rows (training-format columns) -> the model's raw features;
* :mod:`nnctl.serve.batcher`: a micro-batching queue that runs concurrent requests as one batch;
* :mod:`nnctl.serve.app`: the Starlette application (``/healthz``, ``/v1/model``, ``/v1/predict``);
* :mod:`nnctl.serve.server`: loading the model and running uvicorn on a socket.

Needs the ``serve`` extra (starlette, uvicorn): ``pip install 'nnctl[serve]'``.
"""

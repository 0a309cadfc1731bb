"""Run inside the bundle's isolated interpreter (``python -I -S``, only the bundle on the path):
read Lambda events (JSON lines) from stdin, answer each through ``app.lambda_handler.handler``,
and print one JSON line per answer, then where the libraries were imported from."""

import json
import sys

bundle = sys.argv[1]
sys.path.insert(0, bundle)

import mangum  # noqa: E402

import app.lambda_handler  # noqa: E402

for line in sys.stdin:
    result = app.lambda_handler.handler(json.loads(line), None)
    print(json.dumps({"answer": result}), flush=True)
print(json.dumps({"mangum": mangum.__file__, "path": sys.path}), flush=True)

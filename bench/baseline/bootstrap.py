"""A minimal Lambda runtime for the Python baselines: the same Runtime API protocol the Rust functions speak, so the
bench harness measures both the same way. Usage: python bootstrap.py <module> (the module defines `handler`)."""

import importlib
import json
import os
import sys
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def main() -> None:
    # Importing the handler module is the init phase: it builds its boto3 clients there, as a Lambda would.
    module = importlib.import_module(sys.argv[1])
    while True:
        with urllib.request.urlopen(f"{API}/invocation/next", timeout=None) as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        try:
            result = module.handler(event, None)
            url, body = f"{API}/invocation/{request_id}/response", json.dumps(result).encode()
        except Exception as error:  # noqa: BLE001 - reported to the runtime like Lambda does
            url = f"{API}/invocation/{request_id}/error"
            body = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")).close()


if __name__ == "__main__":
    main()

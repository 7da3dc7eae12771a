"""LocalStack's own SQS, SNS and Secrets Manager on the host, for the tests and the local stack.

Run with the virtualenv infra/engines.sh makes (.engines/localstack). Everything stays on
loopback: queue URLs are path-style on the given host and port (no *.localstack.cloud names),
nothing is persisted, and LocalStack's analytics, DNS server and update checks are off.

One fix over LocalStack 4.14: with DeduplicationScope=messageGroup, SQS deduplicates per
message group, but LocalStack keys its deduplication table by id alone, so a message in
another group with the same deduplication id displaced the first and a later duplicate in the
first group got through. The table is keyed by (group, id) here.

Usage: localstack_server.py [--host 127.0.0.1] [--port 4566] [--data DIR]
"""

import argparse
import contextvars
import os
import signal
import sys
import tempfile


def configure(host, port, data):
    os.environ.update(
        {
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"{host}:{port}",
            "LOCALSTACK_HOST": f"{host}:{port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            "SERVICES": "sqs,sns,secretsmanager",
            "EAGER_SERVICE_LOADING": "1",
            "PERSISTENCE": "0",
            "DISABLE_EVENTS": "1",
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "LOCALSTACK_VOLUME_DIR": os.path.join(data, "volume"),
            "FILESYSTEM_ROOT": os.path.join(data, "fs"),
        }
    )


def scope_fifo_deduplication_to_the_group():
    from localstack.services.sqs import models

    group = contextvars.ContextVar("hark_message_group", default=None)

    class GroupScoped(dict):
        def __init__(self, queue):
            super().__init__()
            self.queue = queue

        def _key(self, key):
            if self.queue.deduplication_scope == "messageGroup":
                return (group.get(), key)
            return key

        def get(self, key, default=None):
            return super().get(self._key(key), default)

        def __setitem__(self, key, value):
            super().__setitem__(self._key(key), value)

    original_init = models.FifoQueue.__init__
    original_put = models.FifoQueue.put

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.deduplication = GroupScoped(self)

    def put(self, message, visibility_timeout=None, message_deduplication_id=None, message_group_id=None,
            delay_seconds=None):
        token = group.set(message_group_id)
        try:
            return original_put(self, message, visibility_timeout, message_deduplication_id, message_group_id,
                                delay_seconds)
        finally:
            group.reset(token)

    models.FifoQueue.__init__ = init
    models.FifoQueue.put = put


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--data", default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("LocalStack is only ever served on loopback")
    data = args.data or tempfile.mkdtemp(prefix="hark-localstack-")
    configure(args.host, args.port, data)
    scope_fifo_deduplication_to_the_group()
    # SIGTERM stops it like Ctrl-C does: promptly, even under load.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    from localstack.runtime import main as runtime

    sys.argv = [sys.argv[0]]
    runtime.main()


if __name__ == "__main__":
    main()

"""AWS for tests: moto's server on a free local port, reached by the real boto3 client."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from moto.server import ThreadedMotoServer

from tests.fakes.http import serving

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a running moto server, stopped afterwards."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its state per process, not per server: start every test from an empty AWS.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310
    try:
        yield endpoint
    finally:
        server.stop()


@dataclass
class Hold:
    """Requests whose body contains all `markers` (e.g. b"Action=DeleteVolume"), stopped at the
    proxy: before AWS sees them (`after_aws` False: the call is never made), or after AWS answered
    (the call is made, its answer lost). `held` is set when one is stopped; it is never answered."""

    markers: tuple[bytes, ...]
    after_aws: bool = False
    held: threading.Event = field(default_factory=threading.Event)


REFUSED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code>'
    b"<Message>You are not authorized to perform this operation.</Message></Error></Errors>"
    b"<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)


@dataclass
class Network:
    """The network between the bot and AWS, as a proxy in front of moto: it counts the calls that
    reach AWS and can stop one mid-flight, as a crash or a lost connection would."""

    url: str = ""
    reached: list[bytes] = field(default_factory=list)
    hold: Hold | None = None
    refuse: list[tuple[bytes, ...]] = field(default_factory=list)  # EC2 requests with all of one: 403
    released: threading.Event = field(default_factory=threading.Event)

    def calls(self, *markers: bytes) -> int:
        return sum(_has(body, markers) for body in self.reached)


def _has(body: bytes, markers: tuple[bytes, ...]) -> bool:
    return all(marker in body for marker in markers)


@contextmanager
def network(endpoint: str) -> Iterator[Network]:
    """A `Network` proxying to the moto server at `endpoint`; point AWS_ENDPOINT_URL at its url."""
    net = Network()

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hold = net.hold if net.hold and _has(body, net.hold.markers) else None
            if any(_has(body, markers) for markers in net.refuse):
                self.send_response(403)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(REFUSED)))
                self.end_headers()
                self.wfile.write(REFUSED)
                return
            if hold and not hold.after_aws:
                hold.held.set()
                net.released.wait()  # until the test ends: the caller sees no answer
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(  # noqa: S310 - the local moto server
                endpoint + self.path, data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request) as answer:  # noqa: S310
                    status, reply, answer_headers = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as refused:
                status, reply, answer_headers = refused.code, refused.read(), refused.headers
            net.reached.append(body)
            if hold:
                hold.held.set()
                net.released.wait()
                return
            self.send_response(status)
            for name, value in answer_headers.items():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "server",
                    "date",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    with serving(Proxy) as url:
        net.url = url
        try:
            yield net
        finally:
            net.released.set()

"""Ask a Kafka broker for cluster metadata, using only the standard library.

deploy/kafka/local.sh runs this file directly (it needs nothing but the
standard library, so it works before anything is installed), and the
worker's /readyz imports it. A broker is up when it answers a real
Metadata request (API key 3, version 4, the oldest version Kafka 4.x still
accepts) and list at least one broker, not merely accept a TCP connection.

    python3 streams/kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]

Exit 0 and print the brokers when it answers; exit 1 with the reason otherwise.
"""

import socket
import struct
import sys

METADATA_API_KEY = 3
METADATA_VERSION = 4
CORRELATION_ID = 0x6D77  # "mw"


def _string(value: bytes) -> bytes:
    return struct.pack(">h", len(value)) + value


def metadata_request() -> bytes:
    body = struct.pack(">hhi", METADATA_API_KEY, METADATA_VERSION, CORRELATION_ID)
    body += _string(b"modwatch-probe")
    body += struct.pack(">i", -1)  # null topic array: all topics
    body += struct.pack(">?", False)  # allow_auto_topic_creation
    return struct.pack(">i", len(body)) + body


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed before the full response arrived")
        chunks += chunk
    return chunks


def brokers(address: str, timeout: float) -> list[tuple[int, str, int]]:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(metadata_request())
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        payload = _read_exact(sock, size)
    correlation_id, _throttle, count = struct.unpack_from(">iii", payload, 0)
    if correlation_id != CORRELATION_ID:
        raise ValueError(f"response correlation id {correlation_id} is not {CORRELATION_ID}")
    offset = 12
    found = []
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", payload, offset)
        (host_length,) = struct.unpack_from(">h", payload, offset + 4)
        host = payload[offset + 6 : offset + 6 + host_length].decode()
        offset += 6 + host_length
        (broker_port, rack_length) = struct.unpack_from(">ih", payload, offset)
        offset += 6 + max(rack_length, 0)
        found.append((node_id, host, broker_port))
    return found


def main() -> int:
    address = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    try:
        found = brokers(address, timeout)
    except (OSError, ValueError, struct.error) as error:
        print(f"{address}: no metadata answer: {error}", file=sys.stderr)
        return 1
    if not found:
        print(f"{address}: metadata answer lists no broker yet", file=sys.stderr)
        return 1
    for node_id, host, port in found:
        print(f"broker {node_id} at {host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

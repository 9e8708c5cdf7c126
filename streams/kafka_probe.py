"""Ask a Kafka broker for cluster metadata, using only the standard library.

deploy/kafka/local.sh runs this file directly (it needs nothing but the
standard library, so it works before anything is installed), and the
worker's /readyz imports it. A broker is up when it answers a real
Metadata request (API key 3, version 4, the oldest version Kafka 4.x still
accepts) and list at least one broker, not merely accept a TCP connection.

    python3 streams/kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]

Exit 0 and print the brokers when it answers; exit 1 with the reason otherwise.

:func:`metadata` also reads each partition's leader and in-sync replicas, and
:func:`short_of_replicas` names the partitions a write with ``acks=all`` would
be refused on: no leader, or fewer in-sync replicas than ``min.insync.replicas``.
"""

from __future__ import annotations

import socket
import struct
import sys

METADATA_API_KEY = 3
METADATA_VERSION = 4
CORRELATION_ID = 0x6D77  # "mw"


def _string(value: bytes) -> bytes:
    return struct.pack(">h", len(value)) + value


def metadata_request(topics: list[str] | None = None) -> bytes:
    """All topics when ``topics`` is None."""
    body = struct.pack(">hhi", METADATA_API_KEY, METADATA_VERSION, CORRELATION_ID)
    body += _string(b"modwatch-probe")
    if topics is None:
        body += struct.pack(">i", -1)  # null topic array: all topics
    else:
        body += struct.pack(">i", len(topics)) + b"".join(_string(name.encode()) for name in topics)
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
    return metadata(address, timeout, topics=[])[0]


def metadata(address: str, timeout: float, topics: list[str] | None = None) -> tuple[list, list]:
    """The brokers ``(node_id, host, port)`` and the partitions ``(topic, partition, leader,
    replicas, in_sync)`` of ``topics`` (all when None) that one broker's Metadata answer lists."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(metadata_request(topics))
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        payload = _read_exact(sock, size)
    correlation_id, _throttle, count = struct.unpack_from(">iii", payload, 0)
    if correlation_id != CORRELATION_ID:
        raise ValueError(f"response correlation id {correlation_id} is not {CORRELATION_ID}")
    reader = _Reader(payload, 12)
    found = []
    for _ in range(count):
        node_id, host, broker_port = reader.int32(), reader.string(), reader.int32()
        reader.string()  # rack
        found.append((node_id, host, broker_port))
    reader.string()  # cluster id
    reader.int32()  # controller id
    partitions = []
    for _ in range(reader.int32()):
        topic_error, name, _internal = reader.int16(), reader.string(), reader.int8()
        for _ in range(reader.int32()):
            _error, index, leader = reader.int16(), reader.int32(), reader.int32()
            replicas, in_sync = reader.int32s(), reader.int32s()
            if topic_error == 0:
                partitions.append((name, index, leader, replicas, in_sync))
    return found, partitions


class _Reader:
    """Reads the big-endian fields of a Metadata answer (version 4) in order."""

    def __init__(self, payload: bytes, offset: int):
        self.payload, self.offset = payload, offset

    def _unpack(self, form: str):
        (value,) = struct.unpack_from(form, self.payload, self.offset)
        self.offset += struct.calcsize(form)
        return value

    def int8(self) -> int:
        return self._unpack(">b")

    def int16(self) -> int:
        return self._unpack(">h")

    def int32(self) -> int:
        return self._unpack(">i")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        text = self.payload[self.offset : self.offset + length].decode()
        self.offset += length
        return text

    def int32s(self) -> tuple[int, ...]:
        return tuple(self.int32() for _ in range(self.int32()))


def short_of_replicas(partitions: list, min_in_sync: int) -> list[str]:
    """The partitions an ``acks=all`` write is refused on, as ``topic-partition (why)``."""
    short = []
    for topic, index, leader, replicas, in_sync in partitions:
        if leader < 0:
            short.append(f"{topic}-{index} (no leader)")
        elif len(in_sync) < min_in_sync:
            short.append(f"{topic}-{index} ({len(in_sync)} of {len(replicas)} replicas in sync)")
    return sorted(short)


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

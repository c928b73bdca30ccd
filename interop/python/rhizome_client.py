#!/usr/bin/env python3
"""A second implementation of the Rhizome protocol, written from docs/protocol.md,
docs/records.md, docs/snapshots.md and README.md alone (no reading of src/).

Commands:

  rhizome_client.py vectors
      check every hex test vector in the docs against this implementation
  rhizome_client.py interop --contact URI_A --contact URI_B
      handshake, PING, FIND_NODE, STORE and FIND_VALUE against two running nodes, storing an
      immutable record, a signed profile, a signed thread and a signed vote on it;
      prints one JSON object (the keys written) on stdout and a line per step on stderr
  rhizome_client.py probe --contact URI [--status-command CMD]
      send what the docs say a node refuses (and some it must accept); report its answers
  rhizome_client.py snapshot-read FILE | snapshot-write FILE
      check a snapshot as docs/snapshots.md says; write one signed by a new key

Exit status: 0 when every step passed, 1 when one failed (one line says which), 2 on usage.
Needs Python 3.11 and the `cryptography` package; MessagePack is implemented here, exactly as the
docs specify, so the docs' canonical-encoding rules are what this file checks.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import ipaddress
import json
import re
import secrets
import shlex
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.exceptions import InvalidSignature, InvalidTag


class ProtocolError(Exception):
    """Bytes from a peer, or a peer's behaviour, that the docs do not allow."""


class WrongNode(ProtocolError):
    """A RESPONSE signed by another node than the one expected: that node holds the address."""


# ---------------------------------------------------------------------------------------------
# MessagePack: only the forms the docs name (nil, bool, int, float64, bin, str, array, and the
# map of a snapshot's header).
# ---------------------------------------------------------------------------------------------

# Record format 1 wrote integers of 2^32 and above as float64 (`cb`) while records.md called them
# `uint`; format 2 writes uint64 (`cf`). The form is taken from the docs' vectors
# (`choose_large_int_form`), so this client follows the docs of its checkout.
LARGE_INT_FORMS = ("uint64", "float64")
large_int_form = "uint64"

SAFE_INTEGER_MAX = 2**53 - 1  # records.md: seq and expiresAtS are whole numbers in 0..2^53 - 1


def mp_encode(value: object) -> bytes:
    out = bytearray()
    _mp_encode_into(out, value)
    return bytes(out)


def _mp_encode_into(out: bytearray, value: object) -> None:
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        _mp_encode_int(out, value)
    elif isinstance(value, float):
        out.append(0xCB)
        out += struct.pack(">d", value)
    elif isinstance(value, (bytes, bytearray)):
        n = len(value)
        if n < 2**8:
            out += bytes([0xC4, n])
        elif n < 2**16:
            out.append(0xC5)
            out += struct.pack(">H", n)
        else:
            out.append(0xC6)
            out += struct.pack(">I", n)
        out += value
    elif isinstance(value, str):
        data = value.encode("utf-8")
        n = len(data)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 2**8:
            out += bytes([0xD9, n])
        elif n < 2**16:
            out.append(0xDA)
            out += struct.pack(">H", n)
        else:
            out.append(0xDB)
            out += struct.pack(">I", n)
        out += data
    elif isinstance(value, dict):
        n = len(value)
        if n < 16:
            out.append(0x80 | n)
        elif n < 2**16:
            out.append(0xDE)
            out += struct.pack(">H", n)
        else:
            out.append(0xDF)
            out += struct.pack(">I", n)
        for key, item in value.items():
            _mp_encode_into(out, key)
            _mp_encode_into(out, item)
    elif isinstance(value, (list, tuple)):
        n = len(value)
        if n < 16:
            out.append(0x90 | n)
        elif n < 2**16:
            out.append(0xDC)
            out += struct.pack(">H", n)
        else:
            out.append(0xDD)
            out += struct.pack(">I", n)
        for item in value:
            _mp_encode_into(out, item)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as MessagePack")


def _mp_encode_int(out: bytearray, n: int) -> None:
    if 0 <= n < 0x80:
        out.append(n)
    elif 0 <= n < 2**8:
        out += bytes([0xCC, n])
    elif 0 <= n < 2**16:
        out.append(0xCD)
        out += struct.pack(">H", n)
    elif 0 <= n < 2**32:
        out.append(0xCE)
        out += struct.pack(">I", n)
    elif -32 <= n < 0:
        out.append(n & 0xFF)
    elif -(2**7) <= n < 0:
        out.append(0xD0)
        out += struct.pack(">b", n)
    elif -(2**15) <= n < 0:
        out.append(0xD1)
        out += struct.pack(">h", n)
    elif -(2**31) <= n < 0:
        out.append(0xD2)
        out += struct.pack(">i", n)
    elif large_int_form == "float64" and abs(n) <= SAFE_INTEGER_MAX:
        out.append(0xCB)
        out += struct.pack(">d", float(n))
    elif 0 <= n < 2**64:
        out.append(0xCF)
        out += struct.pack(">Q", n)
    elif -(2**63) <= n < 0:
        out.append(0xD3)
        out += struct.pack(">q", n)
    else:
        raise ValueError(f"integer {n} does not fit MessagePack")


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("MessagePack value ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")


def mp_decode(data: bytes, *, canonical: bool = False) -> object:
    """Exactly one value, nothing after it. With canonical, the bytes must be what mp_encode
    writes for the value (records.md: "encoded as this document specifies")."""
    reader = _Reader(data)
    value = _mp_decode_one(reader, depth=0)
    if reader.pos != len(data):
        raise ProtocolError(f"{len(data) - reader.pos} bytes after the MessagePack value")
    if canonical and mp_encode(value) != data:
        raise ProtocolError("MessagePack value not in canonical form")
    return value


MP_DEPTH_MAX = 32  # records nest 3 deep; a deeper value is hostile, not a record


def _mp_decode_one(r: _Reader, depth: int) -> object:
    if depth > MP_DEPTH_MAX:
        raise ProtocolError("MessagePack nested too deep")
    b = r.uint(1)
    if b <= 0x7F:
        return b
    if b >= 0xE0:
        return b - 0x100
    if 0x80 <= b <= 0x8F:
        return _mp_map(r, b & 0x0F, depth)
    if 0x90 <= b <= 0x9F:
        return _mp_array(r, b & 0x0F, depth)
    if 0xA0 <= b <= 0xBF:
        return _mp_str(r.take(b & 0x1F))
    if b == 0xC0:
        return None
    if b == 0xC2:
        return False
    if b == 0xC3:
        return True
    if b == 0xC4:
        return r.take(r.uint(1))
    if b == 0xC5:
        return r.take(r.uint(2))
    if b == 0xC6:
        return r.take(r.uint(4))
    if b == 0xCA:
        return struct.unpack(">f", r.take(4))[0]
    if b == 0xCB:
        return struct.unpack(">d", r.take(8))[0]
    if b in (0xCC, 0xCD, 0xCE, 0xCF):
        return r.uint({0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[b])
    if b in (0xD0, 0xD1, 0xD2, 0xD3):
        n = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[b]
        return int.from_bytes(r.take(n), "big", signed=True)
    if b == 0xD9:
        return _mp_str(r.take(r.uint(1)))
    if b == 0xDA:
        return _mp_str(r.take(r.uint(2)))
    if b == 0xDB:
        return _mp_str(r.take(r.uint(4)))
    if b == 0xDC:
        return _mp_array(r, r.uint(2), depth)
    if b == 0xDD:
        return _mp_array(r, r.uint(4), depth)
    if b == 0xDE:
        return _mp_map(r, r.uint(2), depth)
    if b == 0xDF:
        return _mp_map(r, r.uint(4), depth)
    raise ProtocolError(f"MessagePack type byte {b:#04x} is not used by Rhizome")


def _mp_str(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError("MessagePack str is not UTF-8") from error


def _mp_map(r: _Reader, n: int, depth: int) -> dict:
    if 2 * n > len(r.data) - r.pos:
        raise ProtocolError("MessagePack map longer than its bytes")
    out: dict = {}
    for _ in range(n):
        key = _mp_decode_one(r, depth + 1)
        if not isinstance(key, (str, int, bytes)) or key in out:
            raise ProtocolError("MessagePack map key not a string, integer or bytes, or repeated")
        out[key] = _mp_decode_one(r, depth + 1)
    return out


def _mp_array(r: _Reader, n: int, depth: int) -> list:
    if n > len(r.data) - r.pos:  # every element takes at least one byte
        raise ProtocolError("MessagePack array longer than its bytes")
    return [_mp_decode_one(r, depth + 1) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Identities, node IDs and contact URIs (protocol.md "Contact URIs")
# ---------------------------------------------------------------------------------------------

NODE_ID_LABEL = b"rhizome/node-id/v1"
CONTACT_URI_LENGTH_MAX = 318


def node_id_of(public_key: bytes) -> bytes:
    return hashlib.sha256(NODE_ID_LABEL + public_key).digest()[:20]


def public_key_of(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def base32_key(public_key: bytes) -> str:
    return base64.b32encode(public_key).decode("ascii").rstrip("=").lower()


@dataclass
class Contact:
    public_key: bytes
    host: str
    port: int

    @property
    def node_id(self) -> bytes:
        return node_id_of(self.public_key)

    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rhz://{base32_key(self.public_key)}@{host}:{self.port}"


def parse_contact_uri(uri: str) -> Contact:
    if len(uri) > CONTACT_URI_LENGTH_MAX:
        raise ValueError(f"contact URI is {len(uri)} characters, the limit is 318")
    match = re.fullmatch(r"(?i:rhz)://([A-Za-z2-7]{52})@(.+):([1-9][0-9]{0,4})", uri)
    if not match:
        raise ValueError(f"not a contact URI: {uri!r}")
    key_text, host, port_text = match.groups()
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is over 65535")
    key = base64.b32decode(key_text.upper() + "====")
    if base32_key(key) != key_text.lower():
        raise ValueError("the key's last base32 character carries non-zero unused bits")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"unbalanced brackets in host {host!r}")
        host = host[1:-1]
        if "%" in host:  # ipaddress accepts a zone index; protocol.md does not
            raise ValueError(f"{host!r} has a zone index")
        ipaddress.IPv6Address(host)  # ValueError when it is not one
    elif ":" in host:
        raise ValueError(f"an IPv6 host must be in brackets: {host!r}")
    elif re.fullmatch(r"[0-9.]+", host):
        ipaddress.IPv4Address(host)  # refuses leading zeros
    elif len(host) > 253 or not re.fullmatch(
        r"(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*\.?",
        host,
    ):
        raise ValueError(f"{host!r} is not a host name")
    return Contact(key, host.lower(), port)


# ---------------------------------------------------------------------------------------------
# Secure channel (protocol.md "Secure channel")
# ---------------------------------------------------------------------------------------------

SECURE_PROTOCOL_ID = b"RHZS"
SECURE_VERSION = 1
TYPE_INIT, TYPE_RESPONSE, TYPE_DATA = 1, 2, 3
HANDSHAKE_PACKET_BYTES = 150
DATA_OVERHEAD_BYTES = 38
DATAGRAM_BYTES_MAX = 1232
SESSION_PLAINTEXT_BYTES_MAX = DATAGRAM_BYTES_MAX - DATA_OVERHEAD_BYTES
U64_VALID_MAX = 2**53 - 1
STREAM_TIMESTAMP_OFFSET_MS = 2**52
LABEL_INIT = b"rhizome/secure/v1/init"
LABEL_RESPONSE = b"rhizome/secure/v1/response"
LABEL_TRANSCRIPT = b"rhizome/secure/v1/transcript"
LABEL_I2R = b"rhizome/secure/v1/initiator-to-responder"
LABEL_R2I = b"rhizome/secure/v1/responder-to-initiator"
LABEL_STREAM_I2R = b"rhizome/stream/v1/initiator-to-responder"
LABEL_STREAM_R2I = b"rhizome/stream/v1/responder-to-initiator"
HANDSHAKE_RETRY_S = 1.0  # handshakeRetryMs
HANDSHAKE_ATTEMPTS_MAX = 3  # handshakeAttemptsMax


def header(packet_type: int) -> bytes:
    return SECURE_PROTOCOL_ID + bytes([SECURE_VERSION, packet_type])


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def build_init(
    identity: Ed25519PrivateKey, ephemeral: X25519PrivateKey, sid_i: bytes, ts: int
) -> bytes:
    body = (
        header(TYPE_INIT)
        + sid_i
        + struct.pack(">Q", ts)
        + ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        + public_key_of(identity)
    )
    return body + identity.sign(LABEL_INIT + body)


@dataclass
class HandshakeKeys:
    k_i2r: bytes
    k_r2i: bytes
    transcript: bytes
    sid_r: bytes
    peer_public_key: bytes


def finish_initiator(
    init: bytes,
    response: bytes,
    ephemeral: X25519PrivateKey,
    expected_node_id: bytes | None,
) -> HandshakeKeys:
    """The initiator's checks on a RESPONSE, in the order protocol.md gives."""
    if len(response) != HANDSHAKE_PACKET_BYTES or response[:6] != header(TYPE_RESPONSE):
        raise ProtocolError("RESPONSE malformed")
    if response[6:14] != init[6:14]:
        raise ProtocolError("RESPONSE names another handshake (sid_i)")
    peer_key = response[54:86]
    wrong_node = expected_node_id is not None and node_id_of(peer_key) != expected_node_id
    try:
        Ed25519PublicKey.from_public_bytes(peer_key).verify(
            response[86:150], LABEL_RESPONSE + init + response[:86]
        )
    except InvalidSignature as error:
        # Unsigned, a RESPONSE naming another node changes nothing (protocol.md, step 3).
        raise ProtocolError("RESPONSE signature does not verify") from error
    if wrong_node:
        raise WrongNode(
            f"it is node {node_id_of(peer_key).hex()}, not the expected {expected_node_id.hex()}"
        )
    try:
        dh = ephemeral.exchange(X25519PublicKey.from_public_bytes(response[22:54]))
    except ValueError as error:  # `cryptography` refuses an all-zero result itself
        raise ProtocolError("all-zero X25519 result (low-order key)") from error
    if dh == bytes(32):
        raise ProtocolError("all-zero X25519 result (low-order key)")
    th = hashlib.sha256(LABEL_TRANSCRIPT + init + response).digest()
    return HandshakeKeys(
        hkdf(dh, th, LABEL_I2R), hkdf(dh, th, LABEL_R2I), th, response[14:22], peer_key
    )


def seal_data(key: bytes, receiver_sid: bytes, ctr: int, plaintext: bytes) -> bytes:
    head = header(TYPE_DATA) + receiver_sid + struct.pack(">Q", ctr)
    nonce = bytes(4) + struct.pack(">Q", ctr)
    return head + ChaCha20Poly1305(key).encrypt(nonce, plaintext, head)


def open_data(key: bytes, packet: bytes) -> tuple[int, bytes]:
    ctr = struct.unpack(">Q", packet[14:22])[0]
    if ctr > U64_VALID_MAX:
        raise ProtocolError("DATA counter is 2^53 or more")
    nonce = bytes(4) + packet[14:22]
    try:
        return ctr, ChaCha20Poly1305(key).decrypt(nonce, packet[22:], packet[:22])
    except InvalidTag as error:
        raise ProtocolError("DATA does not authenticate") from error


class ReplayWindow:
    """The receiving direction's window of 1024 counters (RFC 6479 semantics)."""

    SIZE = 1024

    def __init__(self) -> None:
        self.highest = -1
        self.seen: set[int] = set()

    def fresh(self, c: int) -> bool:
        return c > self.highest or (self.highest - c < self.SIZE and c not in self.seen)

    def mark(self, c: int) -> None:
        self.seen.add(c)
        self.highest = max(self.highest, c)
        self.seen = {x for x in self.seen if self.highest - x < self.SIZE}


class Session:
    def __init__(self, channel: "SecureChannel", address: tuple[str, int], keys: HandshakeKeys):
        self.channel = channel
        self.address = address
        self.keys = keys
        self.send_ctr = 0
        self.window = ReplayWindow()

    @property
    def peer_node_id(self) -> bytes:
        return node_id_of(self.keys.peer_public_key)

    def send(self, plaintext: bytes) -> None:
        if len(plaintext) > SESSION_PLAINTEXT_BYTES_MAX:
            raise ValueError(f"plaintext of {len(plaintext)} bytes is over 1194")
        packet = seal_data(self.keys.k_i2r, self.keys.sid_r, self.send_ctr, plaintext)
        self.send_ctr += 1
        self.channel.sock.sendto(packet, self.address)


class SecureChannel:
    """The initiator side of the datagram channel: we only ever start sessions."""

    def __init__(self, identity: Ed25519PrivateKey):
        self.identity = identity
        # One dual-stack socket reaches IPv4 contacts (as IPv4-mapped addresses) and IPv6 ones.
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.bind(("::", 0))
        self.sessions: dict[bytes, Session] = {}
        # Plaintexts by the peer that sent them, not by session: a node sends on the newest
        # confirmed session to our address, so the answer to a request sent on one session can
        # arrive on a newer one with the same peer.
        self.inboxes: dict[bytes, list[bytes]] = {}
        self.last_ts = 0
        self.dropped: dict[str, int] = {}

    def close(self) -> None:
        self.sock.close()

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def next_ts(self) -> int:
        self.last_ts = max(int(time.time() * 1000), self.last_ts + 1)
        return self.last_ts

    def handshake(self, host: str, port: int, expected_node_id: bytes) -> Session:
        """A session with the node at host:port that proves expected_node_id (from a contact
        URI's key, or from the NODES reply that named it)."""
        address = (f"::ffff:{host}" if "." in host and ":" not in host else host, port)
        ephemeral = X25519PrivateKey.generate()
        sid_i = secrets.token_bytes(8)
        init = build_init(self.identity, ephemeral, sid_i, self.next_ts())
        wait = HANDSHAKE_RETRY_S
        refused: ProtocolError | None = None
        for _attempt in range(HANDSHAKE_ATTEMPTS_MAX):
            self.sock.sendto(init, address)  # a resent INIT is the same INIT
            deadline = time.monotonic() + wait
            while True:
                packet = self._recv_until(deadline)
                if packet is None:
                    break
                if packet[5] != TYPE_RESPONSE or packet[6:14] != sid_i:
                    self._dispatch(packet)
                    continue
                try:
                    keys = finish_initiator(init, packet, ephemeral, expected_node_id)
                except WrongNode as error:
                    # Signed by another node: it holds that address, so the handshake ends.
                    raise ProtocolError(f"Cannot reach {host}:{port}: {error}") from error
                except ProtocolError as error:
                    # Unsigned: the handshake stays pending, so a forger cannot cancel it.
                    self._count("refusedResponse")
                    refused = error
                    continue
                session = Session(self, address, keys)
                self.sessions[sid_i] = session
                return session
            wait *= 2
        reason = f": {refused}" if refused else ""
        raise ProtocolError(f"Cannot reach {host}:{port}: no acceptable RESPONSE"
                            f" to {HANDSHAKE_ATTEMPTS_MAX} INITs{reason}")

    def _recv_until(self, deadline: float) -> bytes | None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                packet, _source = self.sock.recvfrom(DATAGRAM_BYTES_MAX + 1)
            except socket.timeout:
                return None
            if len(packet) > DATAGRAM_BYTES_MAX:
                self._count("oversize")
            elif len(packet) < 6:
                self._count("malformed")
            elif packet[:4] != SECURE_PROTOCOL_ID:
                self._count("protocol")
            elif packet[4] != SECURE_VERSION:
                self._count("version")
            elif packet[5] not in (TYPE_INIT, TYPE_RESPONSE, TYPE_DATA):
                self._count("malformed")
            else:
                return packet

    def _dispatch(self, packet: bytes) -> None:
        """A packet that is not the RESPONSE being waited for: DATA goes to its session."""
        if packet[5] != TYPE_DATA:
            self._count("unexpected" + ("INIT" if packet[5] == TYPE_INIT else "RESPONSE"))
            return
        if len(packet) < DATA_OVERHEAD_BYTES:
            self._count("malformed")
            return
        session = self.sessions.get(packet[6:14])
        if session is None:
            self._count("unknownSession")
            return
        ctr = struct.unpack(">Q", packet[14:22])[0]
        if ctr <= U64_VALID_MAX and not session.window.fresh(ctr):
            self._count("replay")
            return
        try:
            ctr, plaintext = open_data(session.keys.k_r2i, packet)
        except ProtocolError:
            self._count("unauthenticated")
            return
        session.window.mark(ctr)
        if plaintext:  # a 0-byte plaintext is a keepalive, not delivered
            self.inboxes.setdefault(session.peer_node_id, []).append(plaintext)

    def receive(self, session: Session, deadline: float) -> bytes | None:
        """The next plaintext from the peer of session, on any of our sessions with it."""
        inbox = self.inboxes.setdefault(session.peer_node_id, [])
        while not inbox:
            packet = self._recv_until(deadline)
            if packet is None:
                return None
            self._dispatch(packet)
        return inbox.pop(0)


# ---------------------------------------------------------------------------------------------
# Stream transport key schedule and frames (protocol.md "Stream transport"); checked by vectors
# ---------------------------------------------------------------------------------------------


def stream_keys(keys: HandshakeKeys) -> tuple[bytes, bytes]:
    return hkdf(keys.k_i2r, b"", LABEL_STREAM_I2R), hkdf(keys.k_r2i, b"", LABEL_STREAM_R2I)


def seal_frame(key: bytes, ctr: int, plaintext: bytes) -> bytes:
    length = struct.pack(">I", len(plaintext) + 16)
    nonce = bytes(4) + struct.pack(">Q", ctr)
    return length + ChaCha20Poly1305(key).encrypt(nonce, plaintext, length)


STREAM_FRAME_BODY_BYTES_MAX = 66576  # streamFrameBodyBytesMax
STREAM_REQUEST_TIMEOUT_S = 10.0  # streamRequestTimeoutMs


class StreamClosed(Exception):
    """The listener closed the connection without an answer (how it refuses a request)."""


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise StreamClosed(f"the connection closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def _read_frame(sock: socket.socket) -> bytes:
    length = struct.unpack(">I", _read_exactly(sock, 4))[0]
    if length > STREAM_FRAME_BODY_BYTES_MAX:
        raise ProtocolError(f"frame of {length} bytes is over 66576")
    return struct.pack(">I", length) + _read_exactly(sock, length)


def stream_request(identity: Ed25519PrivateKey, contact: Contact, plaintext: bytes,
                   last_ts: int = 0) -> bytes:
    """One request on its own connection (protocol.md "Client (initiator)")."""
    ephemeral = X25519PrivateKey.generate()
    sid_i = secrets.token_bytes(8)
    ts = STREAM_TIMESTAMP_OFFSET_MS + max(int(time.time() * 1000), last_ts + 1)
    init = build_init(identity, ephemeral, sid_i, ts)
    with socket.create_connection((contact.host, contact.port),
                                  timeout=STREAM_REQUEST_TIMEOUT_S) as sock:
        sock.sendall(struct.pack(">I", len(init)) + init)
        response = _read_frame(sock)[4:]
        keys = finish_initiator(init, response, ephemeral, contact.node_id)
        s_i2r, s_r2i = stream_keys(keys)
        sock.sendall(seal_frame(s_i2r, 0, plaintext))
        frame = _read_frame(sock)
        try:
            return ChaCha20Poly1305(s_r2i).decrypt(bytes(12), frame[4:], frame[:4])
        except InvalidTag as error:
            raise ProtocolError("the stream response does not authenticate") from error


# ---------------------------------------------------------------------------------------------
# DHT messages (protocol.md "DHT messages")
# ---------------------------------------------------------------------------------------------

DHT_PREFIX = b"RHZ\x01"
PING, PONG, FIND_NODE, NODES, FIND_VALUE, VALUE, STORE, STORED, LEAVE, VALUE_REF = range(1, 11)
MESSAGE_NAMES = {
    1: "PING", 2: "PONG", 3: "FIND_NODE", 4: "NODES", 5: "FIND_VALUE", 6: "VALUE", 7: "STORE",
    8: "STORED", 9: "LEAVE", 10: "VALUE_REF",
}
# type -> the body's fields, in order, each (name, kind)
BODY_FIELDS: dict[int, list[tuple[str, str]]] = {
    PING: [], PONG: [], LEAVE: [],
    FIND_NODE: [("target", "id")],
    NODES: [("contacts", "contacts"), ("token", "token")],
    FIND_VALUE: [("key", "id")],
    VALUE: [("value", "value"), ("token", "token")],
    STORE: [("key", "id"), ("value", "value"), ("token", "token"), ("ttlS", "u32")],
    STORED: [("status", "u32")],
    VALUE_REF: [("size", "u32"), ("token", "token")],
}
ANSWERS = {PING: {PONG}, FIND_NODE: {NODES}, FIND_VALUE: {VALUE, VALUE_REF, NODES},
           STORE: {STORED}}
FLAG_CLIENT = 1
DHT_MESSAGE_BYTES_MAX = 1194  # dhtMessageBytesMax
DATAGRAM_VALUE_BYTES_MAX = 1100  # datagramValueBytesMax
CONTACTS_PER_REPLY_MAX = 25
STORED_STATUS = {0: "ok", 1: "badToken", 2: "invalid", 3: "declined", 4: "stale", 5: "full"}
RPC_TIMEOUT_S = 1.0  # rpc_timeout_ms
RPC_RETRIES_MAX = 2  # rpc_retries_max
RPC_TIMEOUT_MAX_S = 4.0  # rpc_timeout_ms_max


@dataclass
class DhtMessage:
    type: int
    tx: int
    sender: bytes
    flags: int
    body: dict


@dataclass
class WireContact:
    node_id: bytes
    host: str
    port: int


def encode_contacts(contacts: list[WireContact]) -> bytes:
    out = bytearray()
    for c in contacts:
        address = socket.inet_pton(socket.AF_INET6 if ":" in c.host else socket.AF_INET, c.host)
        out += c.node_id + bytes([len(address) + 2]) + address + struct.pack(">H", c.port)
    return bytes(out)


def decode_contacts(data: bytes) -> list[WireContact]:
    contacts = []
    pos = 0
    while pos < len(data):
        if len(contacts) == CONTACTS_PER_REPLY_MAX:
            raise ProtocolError("more than 25 contacts")
        if pos + 21 > len(data):
            raise ProtocolError("contacts end inside a contact")
        node_id, length = data[pos : pos + 20], data[pos + 20]
        if length not in (6, 18):
            raise ProtocolError(f"contact address length {length}")
        if pos + 21 + length > len(data):
            raise ProtocolError("contacts end inside a contact")
        address = data[pos + 21 : pos + 19 + length]
        port = struct.unpack(">H", data[pos + 19 + length : pos + 21 + length])[0]
        if port == 0:
            raise ProtocolError("contact port 0")
        family = socket.AF_INET if length == 6 else socket.AF_INET6
        contacts.append(WireContact(node_id, socket.inet_ntop(family, address), port))
        pos += 21 + length
    return contacts


def encode_message(message: DhtMessage, *, stream: bool = False) -> bytes:
    fields: list[object] = [message.type, message.tx, message.sender, message.flags]
    for name, kind in BODY_FIELDS[message.type]:
        value = message.body[name]
        fields.append(encode_contacts(value) if kind == "contacts" else value)
    data = DHT_PREFIX + mp_encode(fields)
    if not stream and len(data) > DHT_MESSAGE_BYTES_MAX:
        raise ValueError(f"DHT message of {len(data)} bytes is over 1194")
    return data


def _whole_u32(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{name} is not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ProtocolError(f"{name} is not a whole number")
    if not 0 <= value <= 2**32 - 1:
        raise ProtocolError(f"{name} out of 0..2^32-1")
    return int(value)


def decode_message(data: bytes, *, stream: bool = False) -> DhtMessage:
    """The decoder's strictness as protocol.md lists it, steps 1-7."""
    if len(data) > (66560 if stream else DHT_MESSAGE_BYTES_MAX):
        raise ProtocolError("oversize")
    if len(data) < 5 or data[:3] != b"RHZ" or data[3] != 1:
        raise ProtocolError("not a version-1 DHT message")
    body = data[4:]
    fields = mp_decode(body)
    if not isinstance(fields, list) or len(fields) < 4:
        raise ProtocolError("not an array with a header")
    if any(b in (0xCF, 0xD3) for b in _integer_headers(body)):
        raise ProtocolError("64-bit integer form in a DHT message")
    msg_type = fields[0]
    if type(msg_type) is not int or msg_type not in BODY_FIELDS:
        raise ProtocolError(f"unknown message type {msg_type!r}")
    spec = BODY_FIELDS[msg_type]
    if len(fields) != 4 + len(spec):
        raise ProtocolError(f"{MESSAGE_NAMES[msg_type]} with {len(fields)} elements")
    tx = _whole_u32(fields[1], "tx")
    sender = fields[2]
    if not isinstance(sender, bytes) or len(sender) != 20:
        raise ProtocolError("sender is not a bin of 20 bytes")
    flags = _whole_u32(fields[3], "flags")
    parsed: dict = {}
    for (name, kind), value in zip(spec, fields[4:]):
        if kind == "u32":
            parsed[name] = _whole_u32(value, name)
        elif not isinstance(value, bytes):
            raise ProtocolError(f"{name} is not a bin")
        elif kind == "id" and len(value) != 20:
            raise ProtocolError(f"{name} is not 20 bytes")
        elif kind == "token" and len(value) != 8:
            raise ProtocolError("token is not 8 bytes")
        elif kind == "value" and len(value) > (65536 if stream else DATAGRAM_VALUE_BYTES_MAX):
            raise ProtocolError("value over its transport's limit")
        elif kind == "contacts":
            parsed[name] = decode_contacts(value)
        else:
            parsed[name] = value
    return DhtMessage(msg_type, tx, sender, flags, parsed)


def _integer_headers(body: bytes) -> list[int]:
    """The type bytes of every value in body (already known to decode), to spot cf/d3."""
    found: list[int] = []
    r = _Reader(body)

    def walk() -> None:
        start = r.pos
        b = body[start]
        found.append(b)
        if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
            r.pos += 1 if 0x90 <= b <= 0x9F else (3 if b == 0xDC else 5)
            n = b & 0x0F if 0x90 <= b <= 0x9F else int.from_bytes(
                body[start + 1 : r.pos], "big")
            for _ in range(n):
                walk()
        else:
            _mp_decode_one(r, 0)

    walk()
    return found


# ---------------------------------------------------------------------------------------------
# Records (records.md)
# ---------------------------------------------------------------------------------------------

# records.md: "Its first element is the format version (`1`)". Others are changing the record
# format; `choose_large_int_form` takes the version from the vectors so this client follows.
record_version = 1
KIND_IMMUTABLE, KIND_MUTABLE, KIND_SET = 0, 1, 2
LABEL_MUTABLE = b"rhizome/mutable/v1"
LABEL_SET = b"rhizome/set/v1"
LABEL_SET_ENTRY = b"rhizome/set-entry/v1"
PROFILE_NAME = b"profile"
VOTES_TAG = 9
VOTES_ENTRIES_MAX = 512
ENTRY_LIFETIME_S = 90 * 86400  # entryLifetimeS: votes live 90 days


def sha160(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:20]


def immutable_record(payload: bytes) -> tuple[bytes, bytes]:
    record = mp_encode([record_version, KIND_IMMUTABLE, payload])
    return sha160(record), record


def mutable_key(owner: bytes, name: bytes) -> bytes:
    return sha160(LABEL_MUTABLE + owner + name)


def mutable_signed_bytes(owner: bytes, name: bytes, seq: int, payload: bytes) -> bytes:
    return LABEL_MUTABLE + mp_encode([owner, name, seq, payload])


def mutable_record(
    owner: Ed25519PrivateKey, name: bytes, seq: int, payload: bytes
) -> tuple[bytes, bytes]:
    owner_key = public_key_of(owner)
    signature = owner.sign(mutable_signed_bytes(owner_key, name, seq, payload))
    record = mp_encode([record_version, KIND_MUTABLE, owner_key, name, seq, payload, signature])
    return mutable_key(owner_key, name), record


def profile_payload(name: str, about: str, keys: list[bytes], updated_ms: int) -> bytes:
    return mp_encode([name.encode(), about.encode(), keys, updated_ms])


DOCUMENT_MAGIC = b"RHZDOC1\n"
LABEL_DOCUMENT = b"rhizome/doc/v1"
DOCUMENT_THREAD = 1


def thread_record(author: Ed25519PrivateKey, created_ms: int, title: str, body: str,
                  tags: list[str]) -> tuple[bytes, bytes]:
    """A thread document (records.md "Documents") as the payload of an immutable record;
    returns (its ID, the record)."""
    fields = [DOCUMENT_THREAD, public_key_of(author), created_ms, title.encode(), body.encode(),
              [tag.encode() for tag in tags]]
    signature = author.sign(LABEL_DOCUMENT + mp_encode(fields))
    return immutable_record(DOCUMENT_MAGIC + mp_encode(fields + [signature]))


def set_key(name: bytes, one_per_writer: bool, entries_max: int) -> bytes:
    policy = bytes([1 if one_per_writer else 0]) + struct.pack(">H", entries_max)
    return sha160(LABEL_SET + policy + name)


def set_entry_signed_bytes(key: bytes, writer: bytes, seq: int, expires_at_s: int,
                           payload: bytes) -> bytes:
    return LABEL_SET_ENTRY + mp_encode([key, writer, seq, expires_at_s, payload])


def set_record_one_entry(
    writer: Ed25519PrivateKey, name: bytes, one_per_writer: bool, entries_max: int, seq: int,
    expires_at_s: int, payload: bytes,
) -> tuple[bytes, bytes]:
    key = set_key(name, one_per_writer, entries_max)
    writer_key = public_key_of(writer)
    signature = writer.sign(set_entry_signed_bytes(key, writer_key, seq, expires_at_s, payload))
    entry = [writer_key, seq, expires_at_s, payload, signature]
    record = mp_encode([record_version, KIND_SET, name, one_per_writer, entries_max, [entry]])
    return key, record


def verify_record(key: bytes, record: bytes) -> str:
    """What a reader checks on a value found under key (records.md "Checking a record"):
    canonical bytes, the layout, the key, the entries' order, the signatures (not the content
    rules of documents and index sets). Returns the kind's name."""
    try:
        return _verify_record(key, record)
    except (InvalidSignature, ValueError, TypeError) as error:
        raise ProtocolError(f"record under {key.hex()} does not verify: {error!r}") from error


def _verify_record(key: bytes, record: bytes) -> str:
    if len(record) > 65536:
        raise ProtocolError("record over 65,536 bytes")
    fields = mp_decode(record, canonical=True)
    if not isinstance(fields, list) or len(fields) < 3 or fields[0] != record_version:
        raise ProtocolError("not a version-1 record")
    kind = fields[1]
    if kind == KIND_IMMUTABLE and len(fields) == 3:
        if sha160(record) != key:
            raise ProtocolError("immutable record does not hash to its key")
        return "immutable"
    if kind == KIND_MUTABLE and len(fields) == 7:
        _v, _k, owner, name, seq, payload, signature = fields
        if mutable_key(owner, name) != key:
            raise ProtocolError("mutable record is not under its key")
        Ed25519PublicKey.from_public_bytes(owner).verify(
            signature, mutable_signed_bytes(owner, name, _as_int(seq), payload))
        return "mutable"
    if kind == KIND_SET and len(fields) == 6:
        _v, _k, name, one_per_writer, entries_max, entries = fields
        if set_key(name, one_per_writer, entries_max) != key:
            raise ProtocolError("set is not under its key")
        order = [(writer, _as_int(seq)) for writer, seq, *_rest in entries]
        if order != sorted(set(order)):
            raise ProtocolError("set entries not in strictly increasing (writer, seq) order")
        for writer, seq, expires, payload, signature in entries:
            Ed25519PublicKey.from_public_bytes(writer).verify(
                signature,
                set_entry_signed_bytes(key, writer, _as_int(seq), _as_int(expires), payload))
        return "set"
    raise ProtocolError(f"record of kind {kind!r} with {len(fields)} elements")


def _as_int(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ProtocolError(f"{value!r} is not a whole number")


# ---------------------------------------------------------------------------------------------
# A DHT client over the secure channel
# ---------------------------------------------------------------------------------------------


class DhtClient:
    def __init__(self, identity: Ed25519PrivateKey):
        self.identity = identity
        self.node_id = node_id_of(public_key_of(identity))
        self.channel = SecureChannel(identity)
        self.tokens: dict[bytes, bytes] = {}  # node ID -> the latest token it issued us
        self.unmatched = 0
        self.malformed = 0

    def close(self) -> None:
        self.channel.close()

    def connect(self, contact: Contact | WireContact) -> Session:
        return self.channel.handshake(contact.host, contact.port, contact.node_id)

    def request(self, session: Session, msg_type: int, **body: object) -> DhtMessage:
        tx = secrets.randbelow(2**32)
        data = encode_message(DhtMessage(msg_type, tx, self.node_id, FLAG_CLIENT, body))
        wait = RPC_TIMEOUT_S
        for _attempt in range(RPC_RETRIES_MAX + 1):
            session.send(data)  # a resend is the same bytes with the same tx
            deadline = time.monotonic() + wait
            while (plaintext := self.channel.receive(session, deadline)) is not None:
                try:
                    reply = decode_message(plaintext)
                except ProtocolError:
                    self.malformed += 1  # dropped whole, as protocol.md's decoder does
                    continue
                if reply.tx != tx or reply.type not in ANSWERS[msg_type] or \
                        reply.sender != session.peer_node_id:
                    self.unmatched += 1
                    continue
                if "token" in reply.body:
                    self.tokens[reply.sender] = reply.body["token"]
                return reply
            wait = min(wait * 2, RPC_TIMEOUT_MAX_S)
        raise ProtocolError(
            f"no answer to {MESSAGE_NAMES[msg_type]} after {RPC_RETRIES_MAX} resends")

    def send_raw(self, session: Session, data: bytes, tx: int,
                 wait_s: float) -> DhtMessage | None:
        """Send bytes as they are (no resend); the reply with this tx, or None."""
        session.send(data)
        deadline = time.monotonic() + wait_s
        while (plaintext := self.channel.receive(session, deadline)) is not None:
            try:
                reply = decode_message(plaintext)
            except ProtocolError:
                self.malformed += 1
                continue
            if reply.tx == tx:
                return reply
            self.unmatched += 1
        return None

    def store(self, session: Session, key: bytes, value: bytes, ttl_s: int) -> str:
        token = self.tokens.get(session.peer_node_id)
        if token is None:
            token = self.request(session, FIND_NODE, target=key).body["token"]
        reply = self.request(session, STORE, key=key, value=value, token=token, ttlS=ttl_s)
        return STORED_STATUS.get(reply.body["status"], f"unknown {reply.body['status']}")


# ---------------------------------------------------------------------------------------------
# The docs' test vectors
# ---------------------------------------------------------------------------------------------

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


def read_vector_sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Each `<!-- vectors:begin NAME -->` block: its title, then (field, value) pairs in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    text = path.read_text()
    for name, block in re.findall(
        r"<!-- vectors:begin (\S+) -->\s*```\n(.*?)```\s*<!-- vectors:end \1 -->", text, re.S
    ):
        lines = block.rstrip("\n").split("\n")
        pairs: list[tuple[str, str]] = [("title", lines[0])]
        for line in lines[1:]:
            field = re.match(r"  (\S+)\s+(.*)$", line)
            if line.startswith("  ") and not line.startswith("   ") and field:
                pairs.append((field.group(1), field.group(2)))
            else:
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + line.strip())
        sections[name] = pairs
    return sections


def read_plain_vectors(text: str, heading: str) -> dict[str, str]:
    """The unmarked code block after `heading` (the channel and stream vectors): a label at the
    line start, its hex after it or on indented lines below."""
    after = text.split(heading, 1)[1]
    block = after.split("```", 2)[1]
    values: dict[str, str] = {}
    label = ""
    for line in block.split("\n"):
        if not line.strip():
            continue
        if not line[0].isspace():
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            label = parts[0].rstrip(":")
            values[label] = parts[1] if len(parts) > 1 else ""
        elif line.strip().startswith("node ID"):
            values[label + " node ID"] = line.strip().split()[-1]
        else:
            values[label] += line.strip()
    return values


def field(pairs: list[tuple[str, str]], name: str) -> str:
    return next(value for key, value in pairs if key == name)


def fields_named(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in pairs if key == name]


def seed_key(byte: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


class VectorCheck:
    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def equal(self, what: str, got: bytes | str | int, want: bytes | str | int) -> None:
        if isinstance(got, bytes):
            got = got.hex()
        if isinstance(want, bytes):
            want = want.hex()
        if got == want:
            self.passed += 1
        else:
            self.failures.append(f"{what}: got {got}, the docs say {want}")


def check_channel_vectors(check: VectorCheck) -> None:
    text = (DOCS_DIR / "protocol.md").read_text()
    v = read_plain_vectors(text, "## Test vectors")
    initiator, responder = seed_key(0x01), seed_key(0x02)
    e_i = X25519PrivateKey.from_private_bytes(bytes([0xA1]) * 32)
    e_r = X25519PrivateKey.from_private_bytes(bytes([0xB2]) * 32)
    sid_i, sid_r, ts = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718"), \
        1700000000123
    check.equal("S_i", public_key_of(initiator), v["S_i"])
    check.equal("S_i node ID", node_id_of(public_key_of(initiator)), v["S_i node ID"])
    check.equal("S_r node ID", node_id_of(public_key_of(responder)), v["S_r node ID"])
    for which, eph in (("E_i", e_i), ("E_r", e_r)):
        check.equal(which, eph.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw), v[which])

    def response_for(init: bytes) -> bytes:
        body = header(TYPE_RESPONSE) + init[6:14] + sid_r + e_r.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw) + public_key_of(responder)
        return body + responder.sign(LABEL_RESPONSE + init + body)

    init = build_init(initiator, e_i, sid_i, ts)
    response = response_for(init)
    check.equal("INIT", init, v["INIT"])
    check.equal("RESPONSE", response, v["RESPONSE"])
    keys = finish_initiator(init, response, e_i, node_id_of(public_key_of(responder)))
    check.equal("th", keys.transcript, v["th"])
    check.equal("k_i2r", keys.k_i2r, v["k_i2r"])
    check.equal("k_r2i", keys.k_r2i, v["k_r2i"])
    data_label = next(label for label in v if label.startswith("DATA"))
    check.equal("DATA", seal_data(keys.k_i2r, sid_r, 0, b"hello"), v[data_label])

    s = read_plain_vectors(text, "## Stream test vectors")
    stream_init = build_init(initiator, e_i, sid_i, STREAM_TIMESTAMP_OFFSET_MS + ts)
    stream_response = response_for(stream_init)
    check.equal("stream INIT frame", struct.pack(">I", 150) + stream_init, s["INIT frame"])
    check.equal("stream RESPONSE frame", struct.pack(">I", 150) + stream_response,
                s["RESPONSE frame"])
    stream_hs = finish_initiator(stream_init, stream_response, e_i, None)
    check.equal("stream k_i2r", stream_hs.k_i2r, s["k_i2r"])
    check.equal("stream k_r2i", stream_hs.k_r2i, s["k_r2i"])
    s_i2r, s_r2i = stream_keys(stream_hs)
    check.equal("s_i2r", s_i2r, s["s_i2r"])
    check.equal("s_r2i", s_r2i, s["s_r2i"])
    request_label = next(label for label in s if label.startswith("Request frame"))
    response_label = next(label for label in s if label.startswith("Response frame"))
    check.equal("request frame", seal_frame(s_i2r, 0, b"hello"), s[request_label])
    check.equal("response frame", seal_frame(s_r2i, 0, b"world"), s[response_label])


def check_dht_vectors(check: VectorCheck, sections: dict) -> None:
    for name, pairs in sections.items():
        if name == "contact-uri":
            key = bytes.fromhex(field(pairs, "public-key"))
            contact = Contact(key, json.loads(field(pairs, "host")), int(field(pairs, "port")))
            check.equal("contact-uri", contact.uri(), json.loads(field(pairs, "uri")))
            parsed = parse_contact_uri(json.loads(field(pairs, "uri")).upper())  # any case
            check.equal("contact-uri parsed", parsed.node_id, field(pairs, "node-id"))
            continue
        if name == "contact-uri-ipv6":
            key = bytes.fromhex(field(pairs, "public-key"))
            contact = Contact(key, json.loads(field(pairs, "host")), int(field(pairs, "port")))
            check.equal("contact-uri-ipv6", contact.uri(), json.loads(field(pairs, "uri")))
            parsed = parse_contact_uri(json.loads(field(pairs, "input")))
            check.equal("contact-uri-ipv6 input", parsed.uri(), json.loads(field(pairs, "uri")))
            check.equal("contact-uri-ipv6 node ID", parsed.node_id, field(pairs, "node-id"))
            continue
        if name == "contact-uri-refused":
            for text in fields_named(pairs, "text"):
                try:
                    parse_contact_uri(json.loads(text))
                except ValueError:
                    continue
                check.failures.append(f"contact URI {text} was accepted; the docs refuse it")
            continue
        if not name.startswith("dht-"):
            continue
        want = bytes.fromhex(field(pairs, "bytes"))
        msg_type = int(field(pairs, "type"))
        body: dict = {}
        for body_name, kind in BODY_FIELDS[msg_type]:
            if kind == "contacts":
                contacts = []
                for text in fields_named(pairs, "contact"):
                    node_id_hex, address = text.split()
                    host, port = address.rsplit(":", 1)
                    contacts.append(WireContact(bytes.fromhex(node_id_hex), host.strip("[]"),
                                                int(port)))
                body[body_name] = contacts
            elif kind == "u32":
                body[body_name] = int(field(pairs, body_name))
            else:
                body[body_name] = bytes.fromhex(field(pairs, body_name))
        message = DhtMessage(msg_type, int(field(pairs, "tx")),
                             bytes.fromhex(field(pairs, "sender")), int(field(pairs, "flags")),
                             body)
        check.equal(name + " encoded", encode_message(message), want)
        decoded = decode_message(want)
        check.equal(name + " decoded", encode_message(decoded), want)


def check_record_vectors(check: VectorCheck, sections: dict) -> None:
    author, voter = seed_key(0x03), seed_key(0x04)
    immutable = sections["record-immutable"]
    key, record = immutable_record(bytes.fromhex(field(immutable, "payload")))
    check.equal("record-immutable bytes", record, field(immutable, "bytes"))
    check.equal("record-immutable key", key, field(immutable, "key"))

    mutable = sections["record-mutable"]
    check.equal("record-mutable owner", public_key_of(author), field(mutable, "owner"))
    seq = int(field(mutable, "seq"))
    payload = profile_payload("Alice", "Gardener", [], seq)
    check.equal("record-mutable payload (a profile)", payload, field(mutable, "payload"))
    name = bytes.fromhex(field(mutable, "name"))
    check.equal("record-mutable signed",
                mutable_signed_bytes(public_key_of(author), name, seq, payload),
                field(mutable, "signed"))
    key, record = mutable_record(author, name, seq, payload)
    check.equal("record-mutable bytes", record, field(mutable, "bytes"))
    check.equal("record-mutable key", key, field(mutable, "key"))
    check.equal("record-mutable verifies", verify_record(key, record), "mutable")

    votes = sections["record-set"]
    check.equal("record-set writer", public_key_of(voter), field(votes, "writer"))
    name = bytes.fromhex(field(votes, "name"))
    seq, expires = int(field(votes, "seq")), int(field(votes, "expiresAtS"))
    payload = mp_encode([1])
    check.equal("record-set payload (an up-vote)", payload, field(votes, "payload"))
    key, record = set_record_one_entry(
        voter, name, field(votes, "onePerWriter") == "true", int(field(votes, "entriesMax")),
        seq, expires, payload)
    check.equal("record-set signed", set_entry_signed_bytes(
        key, public_key_of(voter), seq, expires, payload), field(votes, "signed"))
    check.equal("record-set bytes", record, field(votes, "bytes"))
    check.equal("record-set key", key, field(votes, "key"))
    check.equal("record-set verifies", verify_record(key, record), "set")

    for doc in ("doc-thread", "doc-message"):
        pairs = sections[doc]
        record = bytes.fromhex(field(pairs, "bytes"))
        check.equal(doc + " id", sha160(record), field(pairs, "id"))
        check.equal(doc + " canonical", mp_encode(mp_decode(record, canonical=True)), record)
        payload = bytes.fromhex(field(pairs, "payload"))
        document = mp_decode(payload[8:], canonical=True)
        check.equal(doc + " signed", b"rhizome/doc/v1" + mp_encode(document[:-1]),
                    field(pairs, "signed"))
        Ed25519PublicKey.from_public_bytes(document[1]).verify(
            document[-1], b"rhizome/doc/v1" + mp_encode(document[:-1]))
        check.passed += 1


def choose_large_int_form(record_sections: dict) -> str:
    """records.md says `seq: uint`; pick the form its mutable-record vector actually has, and
    the record format version the vectors carry."""
    global large_int_form, record_version
    record_version = int(field(record_sections["record-immutable"], "version"))
    pairs = record_sections["record-mutable"]
    want = bytes.fromhex(field(pairs, "bytes"))
    seq = int(field(pairs, "seq"))
    for form in LARGE_INT_FORMS:
        large_int_form = form
        if mp_encode(seq) in want:
            return form
    raise ProtocolError("the mutable-record vector matches no integer encoding")


def run_vectors() -> VectorCheck:
    check = VectorCheck()
    records = read_vector_sections(DOCS_DIR / "records.md")
    protocol = read_vector_sections(DOCS_DIR / "protocol.md")
    form = choose_large_int_form(records)
    log(f"vectors: integers of 2^32 and above are encoded as {form} in the docs' vectors")
    checked = {"contact-uri", "contact-uri-ipv6", "contact-uri-refused", "record-immutable", "record-mutable", "record-set", "doc-thread",
               "doc-message"} | {f"dht-{n}" for n in ("ping", "pong", "find-node", "nodes",
                                 "find-value", "value", "store", "stored", "leave", "value-ref")}
    for name in sorted(set(records) | set(protocol)):
        if name not in checked:
            check.failures.append(f"vector section {name} is new to this client: not checked")
    for section in (check_channel_vectors, lambda c: check_dht_vectors(c, protocol),
                    lambda c: check_record_vectors(c, records)):
        try:
            section(check)
        except (ProtocolError, InvalidSignature, KeyError, StopIteration, ValueError) as error:
            check.failures.append(f"{type(error).__name__}: {error}")
    return check


# ---------------------------------------------------------------------------------------------
# The interop run against real nodes
# ---------------------------------------------------------------------------------------------


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


STORE_TTL_S = 3600  # an hour: long enough for the test's reads, short enough to age out


def find_value(client: DhtClient, sessions: dict[bytes, Session], key: bytes,
               start: Contact) -> tuple[bytes, bytes]:
    """Ask `start` first, then the nodes each NODES reply names, each pinned to the node ID it
    was named with, until one answers a VALUE that verifies. Returns (value, holder's ID)."""
    asked: set[bytes] = set()
    queue: list[Contact | WireContact] = [start]
    while queue:
        contact = queue.pop(0)
        if contact.node_id in asked:
            continue
        asked.add(contact.node_id)
        session = sessions.get(contact.node_id)
        if session is None:
            session = sessions[contact.node_id] = client.connect(contact)
            log(f"handshake: ok with {contact.node_id.hex()} at {contact.host}:{contact.port}"
                " (named in a NODES reply, pinned to that node ID)")
        reply = client.request(session, FIND_VALUE, key=key)
        if reply.type == VALUE:
            verify_record(key, reply.body["value"])
            return reply.body["value"], contact.node_id
        if reply.type == VALUE_REF:
            raise ProtocolError("VALUE_REF: the value needs the stream transport")
        queue += reply.body["contacts"]
    raise ProtocolError(f"no node holds {key.hex()}")


def run_interop(contact_uris: list[str], forced_form: str | None) -> dict:
    global large_int_form
    choose_large_int_form(read_vector_sections(DOCS_DIR / "records.md"))
    large_int_form = forced_form or large_int_form
    contacts = [parse_contact_uri(uri) for uri in contact_uris]
    identity = Ed25519PrivateKey.generate()
    client = DhtClient(identity)
    result: dict = {"client_node_id": client.node_id.hex(), "large_int_form": large_int_form}
    try:
        a, b = contacts[0], contacts[1]
        sessions = {}
        for contact in (a, b):
            sessions[contact.node_id] = client.connect(contact)
            log(f"handshake: ok with {contact.node_id.hex()} at {contact.host}:{contact.port}"
                " (identity pinned from its contact URI)")
        sa, sb = sessions[a.node_id], sessions[b.node_id]
        try:
            client.connect(Contact(b.public_key, a.host, a.port))
            raise ProtocolError("a handshake expecting B's key at A's address succeeded")
        except ProtocolError as error:
            if "not the expected" not in str(error):
                raise
            log(f"handshake pinning: B's key at A's address refused ({error})")

        pong = client.request(sa, PING)
        log(f"PING: PONG from {pong.sender.hex()} (flags {pong.flags})")

        nodes = client.request(sa, FIND_NODE, target=b.node_id)
        named = [(c.node_id.hex(), f"{c.host}:{c.port}") for c in nodes.body["contacts"]]
        log(f"FIND_NODE: NODES with {len(named)} contacts, token {nodes.body['token'].hex()}")
        if b.node_id not in [c.node_id for c in nodes.body["contacts"]]:
            raise ProtocolError("FIND_NODE at A does not name B")
        if client.node_id in [c.node_id for c in nodes.body["contacts"]]:
            raise ProtocolError("NODES names the requester (a DHT client)")
        result["find_node"] = named

        payload = f"interop {secrets.token_hex(8)}".encode()
        key, record = immutable_record(payload)
        status = client.store(sa, key, record, STORE_TTL_S)
        log(f"STORE immutable {key.hex()} at A: {status}")
        if status != "ok":
            raise ProtocolError(f"STORE of an immutable record answered {status}")
        value, holder = find_value(client, {b.node_id: sb}, key, start=b)
        log(f"FIND_VALUE immutable from B: VALUE from {holder.hex()}, verified")
        if value != record:
            raise ProtocolError("VALUE differs from the record stored")
        result["immutable"] = {"key": key.hex(), "payload": payload.decode()}

        bad_token = client.request(sb, STORE, key=key, value=record, token=bytes(8), ttlS=60)
        log(f"STORE with a token B never issued: {STORED_STATUS[bad_token.body['status']]}")

        author = Ed25519PrivateKey.generate()
        now_ms = int(time.time() * 1000)
        profile = profile_payload("Interop", "written by the Python client", [], now_ms)
        key, record = mutable_record(author, PROFILE_NAME, now_ms, profile)
        for name, session in (("A", sa), ("B", sb)):
            status = client.store(session, key, record, STORE_TTL_S)
            log(f"STORE mutable (profile) {key.hex()} at {name}: {status}")
            if status != "ok":
                raise ProtocolError(f"STORE of a signed profile answered {status}")
        stale = client.store(sa, key, mutable_record(author, PROFILE_NAME, now_ms - 1,
                                                     profile)[1], STORE_TTL_S)
        log(f"STORE of the same profile with a lower seq: {stale}")
        if stale != "stale":
            raise ProtocolError(f"a lower seq was answered {stale}, not stale")
        for name, node in (("A", a), ("B", b)):
            value, _ = find_value(client, {node.node_id: sessions[node.node_id]}, key, node)
            if value != record:
                raise ProtocolError(f"FIND_VALUE of the profile at {name} returned other bytes")
            log(f"FIND_VALUE mutable at {name}: VALUE, verified")
        result["mutable"] = {"key": key.hex(), "owner": public_key_of(author).hex(),
                             "seq": now_ms, "name": "Interop", "record": record.hex()}

        title = f"Interop thread {secrets.token_hex(4)}"
        target, record = thread_record(author, now_ms, title, "written from the docs", ["interop"])
        for name, session in (("A", sa), ("B", sb)):
            status = client.store(session, target, record, STORE_TTL_S)
            log(f"STORE thread document {target.hex()} at {name}: {status}")
            if status != "ok":
                raise ProtocolError(f"STORE of a signed thread document answered {status}")
        result["thread"] = {"id": target.hex(), "title": title}
        voter = Ed25519PrivateKey.generate()
        set_name = bytes([VOTES_TAG]) + target
        expires = now_ms // 1000 + ENTRY_LIFETIME_S
        key, record = set_record_one_entry(voter, set_name, True, VOTES_ENTRIES_MAX, now_ms,
                                           expires, mp_encode([1]))
        for name, session in (("A", sa), ("B", sb)):
            status = client.store(session, key, record, STORE_TTL_S)
            log(f"STORE set entry (an up-vote) {key.hex()} at {name}: {status}")
            if status != "ok":
                raise ProtocolError(f"STORE of a signed set entry answered {status}")
        for name, node in (("A", a), ("B", b)):
            value, _ = find_value(client, {node.node_id: sessions[node.node_id]}, key, node)
            if value != record:
                raise ProtocolError(f"FIND_VALUE of the set at {name} returned other bytes")
            log(f"FIND_VALUE set at {name}: VALUE, verified")
        result["set"] = {"key": key.hex(), "writer": public_key_of(voter).hex(),
                         "target": target.hex(), "seq": now_ms, "expiresAtS": expires,
                         "record": record.hex()}
        result["ok"] = True
    finally:
        result["client_dropped"] = client.channel.dropped
        result["unmatched_replies"] = client.unmatched
        result["malformed_replies"] = client.malformed
        client.close()
    return result


# ---------------------------------------------------------------------------------------------
# Snapshots (docs/snapshots.md)
# ---------------------------------------------------------------------------------------------

SNAPSHOT_MAGIC = "rhizome-snapshot"
SNAPSHOT_HEADER_BYTES_MAX = 4096
SNAPSHOT_FRAME_BYTES_MAX = 65536 + 256  # a record frame: the record and its bookkeeping
LABEL_SNAPSHOT = b"rhizome/snapshot/v1"
# snapshots.md (version 3): every frame in its one encoding, a `uint` in its shortest form, uint64
# from 2^32, as in records. Version 2 wrote the times as float64 (FINDINGS F17).
SNAPSHOT_LARGE_INT_FORM = "uint64"
SNAPSHOT_CLASSES = ("popular", "active", "normal", "personal")


def snapshot_version() -> int:
    """The version the header layout in docs/snapshots.md gives (it changes with the record
    format, and the snapshot doc has no vectors to take it from)."""
    layout = re.search(r'\["rhizome-snapshot", version: (\d+),',
                       (DOCS_DIR / "snapshots.md").read_text())
    if not layout:
        raise ProtocolError("docs/snapshots.md gives no header layout")
    return int(layout.group(1))


def _snapshot_frames(data: bytes):
    pos = 0
    index = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ProtocolError(f"frame {index} ends inside its length")
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        limit = SNAPSHOT_HEADER_BYTES_MAX if index == 0 else SNAPSHOT_FRAME_BYTES_MAX
        if length > limit:
            raise ProtocolError(f"frame {index} is {length} bytes, the limit is {limit}")
        if pos + 4 + length > len(data):
            raise ProtocolError(f"frame {index} is truncated")
        yield pos, data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        index += 1


def _integer_forms(body: bytes) -> set[str]:
    """Which MessagePack forms hold the integers of 2^32 and above in body."""
    forms = set()
    for b in _integer_headers(body):
        if b == 0xCF:
            forms.add("uint64")
        elif b == 0xCB:
            forms.add("float64")
    return forms


def read_snapshot(path: Path) -> dict:
    """Every check of docs/snapshots.md "Reading"; returns what the file holds."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:
        raise ProtocolError(f"it is truncated or not a gzip stream ({error})") from error
    frames = list(_snapshot_frames(data))
    if len(frames) < 2:
        raise ProtocolError("no trailer")
    header = mp_decode(frames[0][1])
    if not (isinstance(header, list) and len(header) == 7 and header[0] == SNAPSHOT_MAGIC):
        raise ProtocolError("the header is not a snapshot header")
    _magic, version, node_id, public_key, created_at_ms, scope, counts = header
    if version != snapshot_version():
        raise ProtocolError(f"its format version is {version}, this reader reads "
                            f"{snapshot_version()}")
    if node_id_of(public_key) != node_id:
        raise ProtocolError("the header's public key does not hash to its node ID"
                            " (SHA-256(\"rhizome/node-id/v1\" ‖ publicKey), first 20 bytes)")
    previous_key = b""
    kinds = {"immutable": 0, "mutable": 0, "set": 0}
    forms = _integer_forms(frames[0][1])
    for index, (_pos, body) in enumerate(frames[1:-1], start=1):
        fields = mp_decode(body)
        if not (isinstance(fields, list) and len(fields) == 7 and fields[0] == "r"):
            raise ProtocolError(f"record {index} is not a record frame")
        _r, key, record_class, _stored, _expires, published, record = fields
        if key <= previous_key:
            raise ProtocolError(f"record {index} ({key.hex()}) is out of key order")
        if record_class not in SNAPSHOT_CLASSES or not isinstance(published, bool):
            raise ProtocolError(f"record {index} has a bad class or published flag")
        try:
            kinds[verify_record(key, record)] += 1
        except ProtocolError as error:
            raise ProtocolError(f"record {index} ({key.hex()}) does not verify: {error}") from error
        forms |= _integer_forms(body)
        previous_key = key
    trailer_pos, trailer_body = frames[-1]
    trailer = mp_decode(trailer_body)
    if not (isinstance(trailer, list) and len(trailer) == 4 and trailer[0] == "t"):
        raise ProtocolError("the last frame is not a trailer")
    _t, count, digest, signature = trailer
    if count != len(frames) - 2:
        raise ProtocolError(f"the trailer counts {count} records, the file holds {len(frames) - 2}")
    if hashlib.sha256(data[:trailer_pos]).digest() != digest:
        raise ProtocolError("the hash does not match")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, LABEL_SNAPSHOT + digest)
    except InvalidSignature as error:
        raise ProtocolError("its signature is not the header node's") from error
    return {"node_id": node_id.hex(),
            "created_at_ms": created_at_ms, "scope": scope, "counts_by_kind": counts,
            "records": count, "verified_by_kind": kinds,
            "large_integer_forms": sorted(forms)}


def _snapshot_encode(value: object) -> bytes:
    global large_int_form
    saved, large_int_form = large_int_form, SNAPSHOT_LARGE_INT_FORM
    try:
        return mp_encode(value)
    finally:
        large_int_form = saved


def write_snapshot(path: Path, identity: Ed25519PrivateKey,
                   records: list[tuple[bytes, bytes]]) -> None:
    """A snapshot signed by identity holding records (key, bytes), as docs/snapshots.md lays it
    out: scope "all", every record of class "normal", living a day."""
    public_key = public_key_of(identity)
    node_id = node_id_of(public_key)
    now_ms = int(time.time() * 1000)
    counts = {"immutable": 0, "mutable": 0, "set": 0}
    body_frames = []
    for key, record in sorted(records):
        counts[verify_record(key, record)] += 1
        body_frames.append(_snapshot_encode(
            ["r", key, "normal", now_ms, now_ms + 86400 * 1000, False, record]))
    header = _snapshot_encode(
        [SNAPSHOT_MAGIC, snapshot_version(), node_id, public_key, now_ms, "all", counts])
    data = b"".join(struct.pack(">I", len(f)) + f for f in [header] + body_frames)
    digest = hashlib.sha256(data).digest()
    trailer = _snapshot_encode(
        ["t", len(body_frames), digest, identity.sign(LABEL_SNAPSHOT + digest)])
    path.write_bytes(gzip.compress(data + struct.pack(">I", len(trailer)) + trailer))


def sample_records() -> list[tuple[bytes, bytes]]:
    """An immutable record, a signed profile and a signed vote, all fresh."""
    now_ms = int(time.time() * 1000)
    author = Ed25519PrivateKey.generate()
    records = [immutable_record(f"snapshot {secrets.token_hex(8)}".encode()),
               mutable_record(author, PROFILE_NAME, now_ms,
                              profile_payload("Snapshot", "", [], now_ms))]
    name = bytes([VOTES_TAG]) + secrets.token_bytes(20)
    records.append(set_record_one_entry(Ed25519PrivateKey.generate(), name, True,
                                        VOTES_ENTRIES_MAX, now_ms,
                                        now_ms // 1000 + ENTRY_LIFETIME_S, mp_encode([1])))
    return records


# ---------------------------------------------------------------------------------------------
# Probes: bytes the docs say a node refuses (or accepts), sent to see what it does
# ---------------------------------------------------------------------------------------------

NO_REPLY_WAIT_S = 2.0  # a dropped request gets no reply; wait this long before saying so


def _flat_counters(value: object, prefix: str = "") -> dict[str, float]:
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for k, v in value.items():
            out.update(_flat_counters(v, f"{prefix}{k}."))
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {prefix[:-1]: value}
    return {}


VOLATILE_COUNTERS = ("uptime_s", "packets_sealed", "packets_opened", "rpc.", "requests.",
                     "store.bytes", "store.quota_bytes", "store.values", "by_kind", "by_class",
                     "stored_records", "sessions", "handshakes_answered", "memory", "udp.")


def _counters(status_command: str | None) -> dict[str, float]:
    if not status_command:
        return {}
    done = subprocess.run(shlex.split(status_command), capture_output=True, timeout=60)
    return _flat_counters(json.loads(done.stdout)) if done.returncode == 0 else {}


def _counter_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0) for k in after
            if after[k] != before.get(k, 0) and not any(v in k for v in VOLATILE_COUNTERS)}


def _answer(reply: DhtMessage | None) -> str:
    if reply is None:
        return "no reply"
    if reply.type == STORED:
        return "STORED " + STORED_STATUS.get(reply.body["status"], str(reply.body["status"]))
    return MESSAGE_NAMES[reply.type]


def run_probes(contact_uris: list[str], status_command: str | None) -> list[dict]:
    global large_int_form
    large_int_form = choose_large_int_form(read_vector_sections(DOCS_DIR / "records.md"))
    a = parse_contact_uri(contact_uris[0])
    client = DhtClient(Ed25519PrivateKey.generate())
    results: list[dict] = []
    try:
        session = client.connect(a)
        token = client.request(session, FIND_NODE, target=a.node_id).body["token"]

        def header_fields(msg_type: int, tx: int) -> list[object]:
            return [msg_type, tx, client.node_id, FLAG_CLIENT]

        def probe(name: str, docs_say: str, action) -> None:
            before = _counters(status_command)
            try:
                got = action()
            except (ProtocolError, StreamClosed, OSError) as error:
                got = f"{type(error).__name__}: {error}"
            results.append({"probe": name, "docs_say": docs_say, "got": got,
                            "counters": _counter_delta(before, _counters(status_command))})
            log(f"probe {name}: docs say {docs_say}; got {got}")

        def raw(fields_bytes: bytes, tx: int) -> str:
            return _answer(client.send_raw(session, DHT_PREFIX + fields_bytes, tx,
                                           NO_REPLY_WAIT_S))

        def store_value(key: bytes, value: bytes, ttl_s: int = STORE_TTL_S) -> str:
            tx = secrets.randbelow(2**32)
            data = encode_message(DhtMessage(STORE, tx, client.node_id, FLAG_CLIENT, {
                "key": key, "value": value, "token": token, "ttlS": ttl_s}))
            return _answer(client.send_raw(session, data, tx, NO_REPLY_WAIT_S))

        def with_form(form: str, build):
            global large_int_form
            saved, large_int_form = large_int_form, form
            try:
                return build()
            finally:
                large_int_form = saved

        tx = 0x01020304
        probe("PING, tx as uint64 (cf)", "dropped as malformed, no reply",
              lambda: raw(b"\x94\x01\xcf" + tx.to_bytes(8, "big") + mp_encode(client.node_id)
                          + b"\x01", tx))
        probe("PING, tx as float64 (cb)", "accepted (a leniency, not to be relied on)",
              lambda: raw(b"\x94\x01\xcb" + struct.pack(">d", tx) + mp_encode(client.node_id)
                          + b"\x01", tx))
        probe("PING, array header dc 0004", "accepted (any array header)",
              lambda: raw(b"\xdc\x00\x04" + mp_encode(header_fields(PING, tx))[1:], tx))
        probe("PING with a fifth element", "dropped as malformed (exact element count)",
              lambda: raw(mp_encode(header_fields(PING, tx) + [0]), tx))
        probe("PING naming another sender", "dropped as impostor",
              lambda: raw(mp_encode([PING, tx, secrets.token_bytes(20), FLAG_CLIENT]), tx))
        probe("PING with reserved flag bits set", "PONG (reserved bits ignored)",
              lambda: raw(mp_encode([PING, tx, client.node_id, 0xFFFFFFFF]), tx))
        probe("FIND_NODE with a str target", "dropped as malformed",
              lambda: raw(mp_encode(header_fields(FIND_NODE, tx) + ["x" * 20]), tx))
        probe("LEAVE from a DHT client", "nothing (no reply); counted in requests",
              lambda: raw(mp_encode([LEAVE, 0, client.node_id, FLAG_CLIENT]), 0))

        key, record = immutable_record(b"probe " + secrets.token_bytes(8))
        probe("STORE with ttlS 0", "STORED invalid", lambda: store_value(key, record, 0))
        probe("STORE under another key", "STORED invalid",
              lambda: store_value(secrets.token_bytes(20), record))
        payload = b"probe " + secrets.token_bytes(8)
        canonical_key, _ = immutable_record(payload)
        long_header = bytes([0x93, record_version, KIND_IMMUTABLE, 0xC5]) \
            + len(payload).to_bytes(2, "big") + payload
        probe("immutable record with a non-shortest bin header, under the canonical key",
              "STORED invalid (records.md step 2: encoded as this document specifies)",
              lambda: store_value(canonical_key, long_header))

        def served() -> str:
            reply = client.request(session, FIND_VALUE, key=canonical_key)
            if reply.type != VALUE:
                return MESSAGE_NAMES[reply.type]
            value = reply.body["value"]
            return "VALUE " + value.hex() + (
                " (hashes to its key)" if sha160(value) == canonical_key
                else " (does NOT hash to the key it was asked for)")
        probe("FIND_VALUE of that canonical key", "NODES (nothing was stored)", served)
        probe("immutable record with a non-shortest bin header, under its own hash",
              "STORED invalid", lambda: store_value(sha160(long_header), long_header))

        author = Ed25519PrivateKey.generate()
        now_ms = int(time.time() * 1000)

        def profile_record(form: str, name: bytes = PROFILE_NAME, seq: int = now_ms):
            return with_form(form, lambda: mutable_record(
                author, name, seq, profile_payload("P", "", [], now_ms)))
        other_form = next(form for form in LARGE_INT_FORMS if form != large_int_form)
        probe(f"profile with seq and updatedMs as {other_form}, the form the vectors do not use",
              "STORED invalid", lambda: store_value(*profile_record(other_form)))
        probe(f"profile with seq and updatedMs as {large_int_form}, as the vectors show",
              "STORED ok", lambda: store_value(*profile_record(large_int_form)))
        probe("the same profile bytes again", "STORED ok (the same bytes again)",
              lambda: store_value(*profile_record(large_int_form)))
        probe("a mutable record named other than \"profile\"", "STORED invalid",
              lambda: store_value(*profile_record(large_int_form, b"notes")))
        probe("profile updated a year ahead (updatedMs + 365 days)",
              "STORED invalid (more than profileAheadMsMax, 5 min, ahead)",
              lambda: store_value(*with_form(large_int_form, lambda: mutable_record(
                  author, PROFILE_NAME, now_ms + 2, profile_payload(
                      "P", "", [], now_ms + 365 * 86400 * 1000)))))
        probe("profile with seq 2^53 - 1, which no later profile could replace",
              "STORED invalid (more than profileAheadMsMax, 5 min, ahead)",
              lambda: store_value(*with_form(large_int_form, lambda: mutable_record(
                  author, PROFILE_NAME, SAFE_INTEGER_MAX, profile_payload("P", "", [], now_ms)))))
        probe("profile payload with a str name field (not a bin)", "STORED invalid",
              lambda: store_value(*mutable_record(author, PROFILE_NAME, now_ms + 1,
                                                  mp_encode(["P", b"", [], now_ms]))))

        voter = Ed25519PrivateKey.generate()
        target = secrets.token_bytes(20)
        name = bytes([VOTES_TAG]) + target
        far = now_ms // 1000 + ENTRY_LIFETIME_S + 2 * 86400
        probe("vote entry expiring 92 days from now (lifetime + 2 days)", "STORED invalid",
              lambda: store_value(*set_record_one_entry(voter, name, True, VOTES_ENTRIES_MAX,
                                                        now_ms, far, mp_encode([1]))))
        probe("vote entry with direction 2", "STORED invalid",
              lambda: store_value(*set_record_one_entry(
                  voter, name, True, VOTES_ENTRIES_MAX, now_ms,
                  now_ms // 1000 + 86400, mp_encode([2]))))
        probe("votes set with another policy (entriesMax 100)", "STORED invalid",
              lambda: store_value(*set_record_one_entry(voter, name, True, 100, now_ms,
                                                        now_ms // 1000 + 86400, mp_encode([1]))))

        def vote_with(direction_bytes: bytes, seq: int | float = now_ms) -> str:
            writer = Ed25519PrivateKey.generate()
            key = set_key(name, True, VOTES_ENTRIES_MAX)
            expires = now_ms // 1000 + 86400
            writer_key = public_key_of(writer)
            signature = writer.sign(set_entry_signed_bytes(key, writer_key, seq, expires,
                                                           direction_bytes))
            return store_value(key, mp_encode([record_version, KIND_SET, name, True,
                                               VOTES_ENTRIES_MAX, [[writer_key, seq, expires,
                                                                    direction_bytes, signature]]]))
        probe("down-vote [-1] as negative fixint (91 ff)", "STORED ok",
              lambda: vote_with(b"\x91\xff"))
        probe("down-vote [-1] as int8 (91 d0 ff), not the shortest form", "STORED invalid",
              lambda: vote_with(b"\x91\xd0\xff"))
        probe("vote whose seq 1000 is a float64 (cb), not the shortest form", "STORED invalid",
              lambda: vote_with(b"\x91\x01", 1000.0))
        probe("vote whose seq 1000 is a uint16 (cd)", "STORED ok",
              lambda: vote_with(b"\x91\x01", 1000))

        def two_entries_reversed() -> str:
            key = set_key(name, True, VOTES_ENTRIES_MAX)
            entries = []
            for writer in sorted((Ed25519PrivateKey.generate() for _ in range(2)),
                                 key=public_key_of, reverse=True):
                expires = now_ms // 1000 + 86400
                writer_key = public_key_of(writer)
                sig = writer.sign(set_entry_signed_bytes(key, writer_key, now_ms, expires,
                                                         mp_encode([1])))
                entries.append([writer_key, now_ms, expires, mp_encode([1]), sig])
            return store_value(key, mp_encode(
                [record_version, KIND_SET, name, True, VOTES_ENTRIES_MAX, entries]))
        probe("votes set with two entries out of canonical order", "STORED invalid",
              two_entries_reversed)

        big_key, big_record = immutable_record(secrets.token_bytes(2000))

        def stream_store() -> str:
            data = encode_message(DhtMessage(STORE, 0, client.node_id, FLAG_CLIENT, {
                "key": big_key, "value": big_record, "token": token, "ttlS": STORE_TTL_S}),
                stream=True)
            return _answer(decode_message(stream_request(client.identity, a, data),
                                          stream=True))
        probe("STORE of a 2,006-byte record on the stream", "STORED ok", stream_store)

        def datagram_find_big() -> str:
            reply = client.request(session, FIND_VALUE, key=big_key)
            return _answer(reply) + (f" size {reply.body['size']}"
                                     if reply.type == VALUE_REF else "")
        probe("FIND_VALUE of it by datagram", "VALUE_REF with size 2006", datagram_find_big)

        def stream_find(msg_type: int, body: dict):
            def action() -> str:
                data = encode_message(DhtMessage(msg_type, 0, client.node_id, FLAG_CLIENT,
                                                 body), stream=True)
                reply = decode_message(stream_request(client.identity, a, data), stream=True)
                if reply.type == VALUE:
                    verify_record(big_key, reply.body["value"])
                    return f"VALUE of {len(reply.body['value'])} bytes, verified"
                return _answer(reply)
            return action
        probe("FIND_VALUE of it on the stream", "VALUE",
              stream_find(FIND_VALUE, {"key": big_key}))
        probe("FIND_NODE on the stream", "connection closed without an answer (malformed)",
              stream_find(FIND_NODE, {"target": big_key}))
    finally:
        client.close()
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("vectors", help="check the docs' hex test vectors")
    interop = commands.add_parser("interop", help="talk to two running nodes")
    interop.add_argument("--contact", action="append", required=True,
                         help="a node's contact URI (rhizome id --json | jq -r .contact); twice")
    interop.add_argument("--large-int-form", choices=LARGE_INT_FORMS,
                         help="encode integers of 2^32 and above in this form instead of the one"
                         " the docs' vectors show (to see a node refuse it)")
    probe = commands.add_parser("probe", help="send what the docs say a node refuses")
    probe.add_argument("--contact", required=True, help="the node to probe")
    probe.add_argument("--status-command",
                       help="a command printing the node's `rhizome status --json`, run around"
                       " each probe to show which counters moved")
    read = commands.add_parser("snapshot-read", help="check a snapshot file as the docs say")
    read.add_argument("file", type=Path)
    write = commands.add_parser("snapshot-write",
                                help="write a snapshot of three fresh records, signed by a new key")
    write.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command in ("snapshot-read", "snapshot-write"):
        choose_large_int_form(read_vector_sections(DOCS_DIR / "records.md"))
        try:
            if args.command == "snapshot-write":
                records = sample_records()
                write_snapshot(args.file, Ed25519PrivateKey.generate(), records)
                print(json.dumps({"file": str(args.file), "keys": [k.hex() for k, _ in records]}))
            else:
                print(json.dumps(read_snapshot(args.file)))
        except (ProtocolError, OSError) as error:
            log(f"rhizome_client: snapshot {args.file} is refused: {error}")
            return 1
        return 0
    if args.command == "probe":
        try:
            print(json.dumps(run_probes([args.contact], args.status_command), indent=1))
        except (ProtocolError, ValueError, OSError) as error:
            log(f"rhizome_client: probe failed: {error}")
            return 1
        return 0
    if args.command == "vectors":
        check = run_vectors()
        for failure in check.failures:
            log(f"vector mismatch: {failure}")
        log(f"vectors: {check.passed} values match, {len(check.failures)} differ")
        return 0 if not check.failures else 1
    if len(args.contact) != 2:
        log("rhizome_client: interop needs exactly two --contact URIs")
        return 2
    try:
        result = run_interop(args.contact, args.large_int_form)
    except (ProtocolError, ValueError, OSError, InvalidSignature) as error:
        log(f"rhizome_client: interop failed: {error}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""Capture oxenstored's exact reply bytes for a set of raw requests.

    scripts/oxenstored/capture-replies.py SOCKET > captured-replies.md

Run against a FRESH daemon (scripts/oxenstored/start DIR) so transaction ids
and the like are reproducible.  Each case opens its own connection, sends
its requests one at a time and records every message that arrives within a
short window after each one (so watch events and connection closes show up).
Header: four native-endian u32 (type, req_id, tx_id, len), then payload.
"""
import os
import socket
import struct
import sys
import time

OPS = {
    0: "DEBUG", 1: "DIRECTORY", 2: "READ", 3: "GET_PERMS", 4: "WATCH",
    5: "UNWATCH", 6: "TRANSACTION_START", 7: "TRANSACTION_END",
    8: "INTRODUCE", 9: "RELEASE", 10: "GET_DOMAIN_PATH", 11: "WRITE",
    12: "MKDIR", 13: "RM", 14: "SET_PERMS", 15: "WATCH_EVENT", 16: "ERROR",
    17: "IS_DOMAIN_INTRODUCED", 18: "RESUME", 19: "SET_TARGET",
    20: "RESTRICT", 21: "RESET_WATCHES", 22: "DIRECTORY_PART",
    23: "GET_FEATURE", 24: "SET_FEATURE", 25: "GET_QUOTA", 26: "SET_QUOTA",
}
NAME = {v: k for k, v in OPS.items()}
HDR = struct.Struct("=IIII")
WINDOW = 0.15  # seconds to collect messages after each request


def opname(t):
    return OPS.get(t, str(t))


def hexs(b):
    return b.hex(" ") if b else "(empty)"


def ascii_of(b):
    if not b:
        return "(empty)"
    return "".join(
        chr(c) if 32 <= c < 127 and c != ord("|") else
        ("\\0" if c == 0 else "\\x%02x" % c) for c in b)


def recv_all(sock, window):
    """Return (messages, closed) received within WINDOW seconds."""
    buf = b""
    closed = False
    end = time.monotonic() + window
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
    msgs = []
    while len(buf) >= HDR.size:
        t, rid, tx, ln = HDR.unpack_from(buf)
        if len(buf) < HDR.size + ln:
            break
        msgs.append((t, rid, tx, buf[HDR.size:HDR.size + ln]))
        buf = buf[HDR.size + ln:]
    if buf:
        msgs.append(("partial", 0, 0, buf))
    return msgs, closed


def run_case(path, steps):
    """steps: list of (op, req_id, tx_id, payload, show). Returns rows."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    rows = []
    closed = False
    last_tx = 0
    for op, rid, tx, payload, show in steps:
        if tx == "last":  # id returned by this case's TRANSACTION_START
            tx = last_tx
        if closed:
            rows.append((op, rid, tx, payload, show, [], "not sent: closed"))
            continue
        req = HDR.pack(NAME[op] if isinstance(op, str) else op, rid, tx,
                       len(payload)) + payload
        try:
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError):
            rows.append((op, rid, tx, payload, show, [], "send failed"))
            closed = True
            continue
        msgs, closed = recv_all(s, WINDOW)
        for t, _, _, mp in msgs:
            if op == "TRANSACTION_START" and t == NAME[op]:
                last_tx = int(mp.rstrip(b"\0"))
        rows.append((op, rid, tx, payload, show, msgs,
                     "connection closed by daemon" if closed else ""))
    s.close()
    return rows


def N(*parts):
    """Join byte strings, each followed by a NUL."""
    return b"".join(p + b"\0" for p in parts)


# (title, steps); steps marked show=False are setup and printed compactly.
CASES = [
    ("setup: WRITE /cap/hello = hello, /cap/dir/a, /cap/dir/b", [
        ("WRITE", 1, 0, b"/cap/hello\0hello", True),
        ("WRITE", 2, 0, b"/cap/dir/a\0", False),
        ("WRITE", 3, 0, b"/cap/dir/b\0", False),
    ]),
    ("READ of an existing node with value \"hello\"", [
        ("READ", 10, 0, N(b"/cap/hello"), True),
    ]),
    ("READ of a missing node", [
        ("READ", 11, 0, N(b"/cap/missing"), True),
    ]),
    ("DIRECTORY of a node with children a, b", [
        ("DIRECTORY", 12, 0, N(b"/cap/dir"), True),
    ]),
    ("DIRECTORY of a leaf (no children)", [
        ("DIRECTORY", 13, 0, N(b"/cap/hello"), True),
    ]),
    ("DIRECTORY of a missing node", [
        ("DIRECTORY", 14, 0, N(b"/cap/missing"), True),
    ]),
    ("READ of a node written with an empty value", [
        ("READ", 15, 0, N(b"/cap/dir/a"), True),
    ]),
    ("GET_PERMS of /", [
        ("GET_PERMS", 16, 0, N(b"/"), True),
    ]),
    ("GET_PERMS of /cap/hello", [
        ("GET_PERMS", 17, 0, N(b"/cap/hello"), True),
    ]),
    ("TRANSACTION_START, READ inside it, TRANSACTION_END commit", [
        ("TRANSACTION_START", 20, 0, b"\0", True),
        ("READ", 21, "last", N(b"/cap/hello"), True),
        ("TRANSACTION_END", 22, "last", N(b"T"), True),
    ]),
    ("TRANSACTION_END on an unknown transaction id", [
        ("TRANSACTION_END", 23, 999, N(b"T"), True),
    ]),
    ("READ with an unknown transaction id", [
        ("READ", 24, 999, N(b"/cap/hello"), True),
    ]),
    ("WATCH (reply and initial event), then a WRITE firing it, UNWATCH", [
        ("WATCH", 30, 0, N(b"/cap/hello", b"tok"), True),
        ("WRITE", 31, 0, b"/cap/hello\0hello", True),
        ("UNWATCH", 32, 0, N(b"/cap/hello", b"tok"), True),
    ]),
    ("WATCH on a special path @introduceDomain", [
        ("WATCH", 33, 0, N(b"@introduceDomain", b"t2"), True),
    ]),
    ("GET_DOMAIN_PATH 0", [
        ("GET_DOMAIN_PATH", 40, 0, N(b"0"), True),
    ]),
    ("IS_DOMAIN_INTRODUCED 0", [
        ("IS_DOMAIN_INTRODUCED", 41, 0, N(b"0"), True),
    ]),
    ("IS_DOMAIN_INTRODUCED 7 (no such domain)", [
        ("IS_DOMAIN_INTRODUCED", 42, 0, N(b"7"), True),
    ]),
    ("unknown op 99, then a READ on the same connection", [
        (99, 50, 0, N(b"/cap/hello"), True),
        ("READ", 51, 0, N(b"/cap/hello"), True),
    ]),
    ("DIRECTORY_PART (op 22) of /cap/dir offset 0", [
        ("DIRECTORY_PART", 52, 0, N(b"/cap/dir", b"0"), True),
    ]),
    ("GET_FEATURE (op 23)", [
        ("GET_FEATURE", 53, 0, N(b"0"), True),
    ]),
    ("WRITE with no NUL at all (payload is just the path)", [
        ("WRITE", 60, 0, b"/cap/nonul", True),
        ("READ", 61, 0, N(b"/cap/nonul"), True),
    ]),
    ("READ with the path not NUL-terminated", [
        ("READ", 62, 0, b"/cap/hello", True),
    ]),
    ("READ of a relative path (relative to /local/domain/0)", [
        ("READ", 63, 0, N(b"cap/hello"), True),
    ]),
    ("WRITE of a relative path, then absolute READ of it", [
        ("WRITE", 64, 0, b"rel/x\0v", True),
        ("READ", 65, 0, N(b"/local/domain/0/rel/x"), True),
    ]),
    ("MKDIR existing node, RM missing node, RM existing node", [
        ("MKDIR", 70, 0, N(b"/cap/hello"), True),
        ("RM", 71, 0, N(b"/cap/missing/deeper"), True),
        ("RM", 72, 0, N(b"/cap/dir/b"), True),
    ]),
    ("SET_PERMS then GET_PERMS", [
        ("SET_PERMS", 73, 0, N(b"/cap/dir", b"n0", b"r5"), True),
        ("GET_PERMS", 74, 0, N(b"/cap/dir"), True),
    ]),
    ("invalid paths: trailing slash, double slash, bad char, empty", [
        ("READ", 80, 0, N(b"/cap/hello/"), True),
        ("READ", 81, 0, N(b"/cap//hello"), True),
        ("READ", 82, 0, N(b"/cap/he llo"), True),
        ("READ", 83, 0, N(b""), True),
    ]),
    ("value over quota-maxsize (2049 bytes)", [
        ("WRITE", 84, 0, b"/cap/big\0" + b"x" * 2049, True),
    ]),
    ("path over quota-path-max (1025+ chars)", [
        ("READ", 85, 0, N(b"/" + b"p" * 1100), True),
    ]),
    ("client sends an ERROR-typed message (op 16)", [
        ("ERROR", 86, 0, N(b"EINVAL"), True),
        ("READ", 87, 0, N(b"/cap/hello"), True),
    ]),
    ("RESET_WATCHES (op 21) with payload NUL", [
        ("RESET_WATCHES", 88, 0, b"\0", True),
    ]),
    ("zero-length payload: not answered until more bytes arrive", [
        ("RESET_WATCHES", 92, 0, b"", True),
        ("READ", 93, 0, N(b"/cap/hello"), True),
        ("READ", 94, 0, b"", True),
        ("TRANSACTION_START", 95, 0, b"", True),
        ("READ", 96, 0, N(b"/cap/hello"), True),
    ]),
    ("RELEASE 5, RESUME 5, SET_TARGET 5 6, RESTRICT 5 (no domains)", [
        ("RELEASE", 97, 0, N(b"5"), True),
        ("RESUME", 98, 0, N(b"5"), True),
        ("SET_TARGET", 99, 0, N(b"5", b"6"), True),
        ("RESTRICT", 100, 0, N(b"5"), True),
    ]),
    ("INTRODUCE domain 5 (no Xen: guest memory cannot be mapped)", [
        ("INTRODUCE", 89, 0, N(b"5", b"12345", b"7"), True),
        ("READ", 90, 0, N(b"/cap/hello"), True),
    ]),
    ("DEBUG print", [
        ("DEBUG", 91, 0, N(b"print", b"hi"), True),
    ]),
]


NOTES = """\
## What stands out (read the tables below for the bytes)

- **READ replies carry no trailing NUL**: value `hello` comes back as the 5
  bytes `68 65 6c 6c 6f` (len 5); an empty value is a 0-length payload.
- **Every other success reply is NUL-terminated**: `OK\\0` (WRITE, MKDIR,
  RM, SET_PERMS, WATCH, UNWATCH, TRANSACTION_END, RESET_WATCHES, DEBUG),
  transaction id `1\\0`, `/local/domain/0\\0`, `F\\0`, perms `n0\\0`.
- **DIRECTORY**: each child name followed by NUL (`a\\0b\\0`); a node
  without children gives an **empty payload (len 0), not a single NUL**.
- **Errors**: type ERROR (16), same req_id and tx_id as the request, payload
  the errno name plus NUL (`ENOENT\\0`, `EINVAL\\0`, `ENOSYS\\0`, `EIO\\0`,
  `E2BIG\\0`).
- Unknown transaction id (READ or TRANSACTION_END with tx 999): **EIO**, not
  ENOENT/ESRCH.
- Unknown op 99, DIRECTORY_PART (22), GET_FEATURE (23) and newer ops,
  RESTRICT (20), and a client-sent ERROR (16): **ENOSYS**; the connection
  stays usable.
- WRITE whose payload has no NUL at all, and READ whose path lacks the
  terminating NUL: **EINVAL** (nothing is written).
- Invalid paths (trailing `/`, `//`, space, empty) and paths over
  quota-path-max: EINVAL. Value over quota-maxsize (2048): E2BIG.
- Relative paths are relative to `/local/domain/0`: READ of `cap/hello` is
  ENOENT (no `/local/domain` under `--no-domain-init`), WRITE of `rel/x`
  creates `/local/domain/0/rel/x`.
- WATCH: the `OK\\0` reply comes first, then the initial WATCH_EVENT
  (`path\\0token\\0`) with **req_id 0, tx_id 0**. Works for `@introduceDomain`.
- IS_DOMAIN_INTRODUCED is `F\\0` for 0 and for unknown domains.
- **A message with a zero-length payload is not answered until more bytes
  arrive on the connection**; then it is answered (in order) together with
  the next one. READ with an empty payload then gives EINVAL; TRANSACTION_START
  and RESET_WATCHES with an empty payload succeed. Real clients send a lone
  NUL instead.
- INTRODUCE answers EINVAL here because the shim makes guest-memory mapping
  fail (without the shim's `xc_map_foreign_range` the daemon crashes).
"""


def fmt_req(op, rid, tx, payload):
    t = NAME[op] if isinstance(op, str) else op
    return "%s (%d) req=%d tx=%d len=%d<br>`%s`" % (
        opname(t), t, rid, tx, len(payload), hexs(payload[:80]) +
        (" …(%d bytes)" % len(payload) if len(payload) > 80 else ""))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ["XENSTORED_PATH"]
    out = ["# oxenstored 4.17 replies captured on a raw socket", "",
           "Captured with `scripts/oxenstored/capture-replies.py` against a "
           "fresh `oxenstored` (Debian xen-utils-4.17, `--no-domain-init`, "
           "default config) started by `scripts/oxenstored/start`. "
           "Header = 4 × u32 little-endian (x86 native): type, req_id, "
           "tx_id, len. Each case uses a new connection; every message "
           "arriving within %d ms after a request is listed. "
           "In the ASCII column `\\0` is a NUL byte." % (WINDOW * 1000), "",
           NOTES]
    for title, steps in CASES:
        rows = run_case(path, steps)
        out += ["## " + title, "",
                "| request (type req tx len, payload hex) | reply type | "
                "req | tx | len | reply payload hex | ascii |",
                "|---|---|---|---|---|---|---|"]
        for op, rid, tx, payload, show, msgs, note in rows:
            req = fmt_req(op, rid, tx, payload)
            if not msgs:
                out.append("| %s | (none) | | | | %s | |" % (
                    req, note or "no reply within window"))
            for i, (t, mr, mt, mp) in enumerate(msgs):
                first = req if i == 0 else "↳ (same request)"
                if t == "partial":
                    out.append("| %s | partial bytes | | | | `%s` | |" % (
                        first, hexs(mp)))
                    continue
                out.append("| %s | %s (%d) | %d | %d | %d | `%s` | `%s` |" % (
                    first, opname(t), t, mr, mt, len(mp), hexs(mp[:120]),
                    ascii_of(mp[:120])))
            if msgs and note:
                out.append("| ↳ | %s | | | | | |" % note)
        out.append("")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()

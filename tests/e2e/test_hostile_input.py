"""Hostile text in every field, header and query parameter the API reads (issue 17, item 2),
end to end on both databases. Each control character U+0000..U+001F and U+007F, and several
invalid UTF-8 sequences sent as raw bytes, is put in every text field of the request bodies
(recurring transfers with their schedule and provider_options, webhook endpoints, the banks'
webhooks), in the headers the API reads and in every list filter and path id. For each the answer
must be either a success whose value reads back byte for byte, or a 400 whose JSON error names
the field (or header, or query parameter): never a 500, never a value stored cut short.

Requests are written on raw sockets, so bytes reach the server exactly as given (no client
library normalises or refuses them). docs/ARCHITECTURE.md ("Text the API stores") has the rules.
"""
import base64
import datetime
import hashlib
import hmac
import json
import socket
import time
import uuid

from harness import TOKEN, E2ECase, for_each_backend, main

CONTROLS = [bytes([c]) for c in range(0x20)] + [b"\x7f"]
INVALID_UTF8 = [
    b"\xff",                  # never valid
    b"\xfe\xfe",
    b"\x80",                  # a lone continuation byte
    b"\xc3\x28",              # a lead byte without its continuation
    b"\xe2\x82",              # cut short
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
    b"\xc0\xaf",              # overlong "/"
    b"\xed\xa0\x80",          # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",      # above U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # a 5-byte form
]
PLACEHOLDER = "HOSTILE-PIECE"


def http_raw(port, method, target, body=b"", headers=(), token=TOKEN):
    """One request on its own connection; returns (status, json-or-bytes body, headers dict)."""
    head = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if token:
        head += b"Authorization: Bearer " + token.encode() + b"\r\n"
    if body:
        head += b"Content-Type: application/json\r\n"
    head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    for name, value in headers:
        head += name + b": " + value + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    top, _, payload = data.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    status = int(lines[0].split()[1])
    answer_headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        answer_headers[k.decode().lower()] = v.strip().decode(errors="replace")
    try:
        payload = json.loads(payload)
    except ValueError:
        pass
    return status, payload, answer_headers


def json_with(doc, piece):
    """`doc` as JSON bytes with the placeholder string replaced by `piece`: bytes are put raw
    (invalid UTF-8, unescaped control characters), str through JSON's own escaping."""
    text = json.dumps(doc).encode()
    if isinstance(piece, str):
        return text.replace(PLACEHOLDER.encode(), json.dumps(piece)[1:-1].encode())
    return text.replace(PLACEHOLDER.encode(), piece)


def as_text(piece):
    """What a piece reads back as, if it can be stored at all (raw bytes that are not valid
    UTF-8, or control characters JSON wants escaped, make the body invalid: None then)."""
    if isinstance(piece, str):
        return piece
    try:
        text = piece.decode()
    except UnicodeDecodeError:
        return None
    return None if any(ord(c) < 0x20 for c in text) else text


def set_path(doc, path, value):
    """Sets doc[a][b]... for the path "a.b" ("event_types[0]" for the first of a list)."""
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
    last = parts[-1]
    if last.endswith("[0]"):
        doc[last[:-3]] = [value]
    else:
        doc[last] = value


def get_path(doc, path):
    for p in path.split("."):
        if p.endswith("[0]"):
            doc = doc[p[:-3]][0]
        else:
            doc = doc[p]
    return doc


class HostileCase(E2ECase):
    """Counts what each probe answered, so every test ends with a line of figures."""

    def setUp(self):
        super().setUp()
        self.counts = {}

    def judge(self, what, status, answer, field, read_back=None, sent=None):
        """Either a success whose value reads back as sent, or a 400 naming `field`."""
        self.assertNotEqual(status, 500, (what, answer))
        if status in (200, 201):
            self.assertIsNotNone(read_back, (what, "accepted where no value can be read back"))
            value = read_back()
            self.assertEqual(value, sent, (what, "stored other than sent"))
            self.counts["stored"] = self.counts.get("stored", 0) + 1
            return
        self.assertEqual(status, 400, (what, answer))
        self.assertIsInstance(answer, dict, (what, answer))
        named = answer["error"].get("field")
        if isinstance(field, (list, tuple)):
            self.assertIn(named, field, (what, answer))
        else:
            self.assertEqual(named, field, (what, answer))
        self.counts["refused"] = self.counts.get("refused", 0) + 1

    def assert_log_intact(self, server):
        """The log is still copied (the harness reads it as UTF-8 text: a line with invalid
        UTF-8 would stop its reader, then the pipe fills and the server blocks) and valid."""
        marker = "end-" + uuid.uuid4().hex
        status, _, _ = http_raw(server.port, "GET", b"/healthz",
                                headers=[(b"X-Request-Id", marker.encode())])
        self.assertEqual(status, 200)
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(server.log_path, "rb") as f:
                log = f.read()
            if marker.encode() in log:
                break
            time.sleep(0.1)
        self.assertIn(marker.encode(), log, "the server's log stopped being copied")
        for line in log.splitlines():
            line.decode("utf-8")  # raises on invalid UTF-8

    def report(self, name):
        print(f"\n  {name} [{self.backend}]: {self.counts}", flush=True)


@for_each_backend
class TransferText(HostileCase):
    TEXT_FIELDS = {  # field -> a valid value; the hostile piece goes after its first character
        "external_id": "ext-1",
        "provider": "bank",
        "source_account": "acc_src",
        "destination_account": "acc_dst",
        "currency": "USD",
        "description": "rent",
        "rail": "book",
        "schedule.frequency": "MONTHLY",
        "schedule.start_date": None,  # today
        "schedule.end_date": "2099-12-31",
        "schedule.timezone": "Europe/Paris",
        "schedule.execution_time": "09:30",
        "schedule.business_day": "FOLLOWING",
        "schedule.calendar": "WEEKENDS",
        "provider_options.memo": "m",
    }

    def body(self):
        today = datetime.datetime.utcnow().date().isoformat()
        return {"provider": "bank", "source_account": "acc_src", "destination_account": "acc_dst",
                "amount": 100, "currency": "USD", "description": "rent",
                "schedule": {"frequency": "MONTHLY", "start_date": today}}

    def reader(self, server, status, answer, field):
        def read_back():
            self.assertIn("id", answer, answer)
            code, stored, _ = http_raw(server.port, "GET",
                                       f"/v1/recurring-transfers/{answer['id']}".encode())
            self.assertEqual(code, 200, stored)
            # The answer to the create and the read both hold the value as stored.
            self.assertEqual(get_path(stored, field), get_path(answer, field))
            return get_path(stored, field)
        return read_back

    def probe_field(self, server, field, base, piece):
        body = self.body()
        if base is None:
            base = body["schedule"]["start_date"]
        set_path(body, field, base[:1] + PLACEHOLDER + base[1:])
        raw = json_with(body, piece)
        status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers", raw)
        sent = None if as_text(piece) is None else base[:1] + as_text(piece) + base[1:]
        self.judge((field, piece), status, answer, field, self.reader(server, status, answer, field),
                   sent)

    def test_every_control_character_in_every_text_field(self):
        server = self.start_server()
        for field, base in self.TEXT_FIELDS.items():
            for c in CONTROLS:
                self.probe_field(server, field, base, c.decode())  # escaped as JSON \u00XX
        # An option's name is text as well.
        for c in CONTROLS:
            body = self.body()
            body["provider_options"] = {"m" + c.decode() + "o": "x"}
            status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers",
                                         json.dumps(body).encode())
            self.judge(("option name", c), status, answer, "provider_options.m" + c.decode() + "o")
        self.report("control characters, escaped")

    def test_nul_never_stored_cut_short(self):
        """The defect as reported: on PostgreSQL "acc\\u0000evil" was stored as "acc" with a 201."""
        server = self.start_server()
        for field in ("source_account", "destination_account", "description", "external_id"):
            body = self.body()
            body[field] = "acc\u0000evil"
            status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers",
                                         json.dumps(body).encode())
            self.judge(field, status, answer, field, self.reader(server, status, answer, field),
                       "acc\u0000evil")
        self.report("NUL")

    def test_raw_bytes_in_every_text_field(self):
        """Unescaped control characters and invalid UTF-8, as bytes in the JSON text: the body is
        not valid JSON, and the 400 names the field they are in."""
        server = self.start_server()
        for field, base in self.TEXT_FIELDS.items():
            for piece in INVALID_UTF8 + CONTROLS:
                self.probe_field(server, field, base, piece)
        self.report("raw bytes")

    def test_idempotency_key_header(self):
        server = self.start_server()
        body = json.dumps(self.body()).encode()
        for piece in CONTROLS + INVALID_UTF8:
            if piece in (b"\r", b"\n"):
                continue  # a line break ends the header: tried below as a malformed request
            key = b"k-" + uuid.uuid4().hex.encode() + piece + b"x"
            status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers", body,
                                         [(b"Idempotency-Key", key)])

            def read_back(answer=answer):
                code, stored, _ = http_raw(server.port, "GET",
                                           f"/v1/recurring-transfers/{answer['id']}".encode())
                self.assertEqual(code, 200, stored)
                return stored["idempotency_key"].encode()

            self.judge(("Idempotency-Key", piece), status, answer, "Idempotency-Key", read_back,
                       key)
        for piece in (b"\r", b"\n"):
            status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers", body,
                                         [(b"Idempotency-Key", b"k" + piece + b"x")])
            self.assertEqual(status, 400, (piece, answer))
        # A key in valid UTF-8 beyond ASCII is stored as sent.
        key = "clé-☃-𝄞-" + uuid.uuid4().hex
        status, answer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers", body,
                                     [(b"Idempotency-Key", key.encode())])
        self.assertEqual(status, 201, answer)
        self.assertEqual(answer["idempotency_key"], key)
        self.report("Idempotency-Key")

    def test_authorization_and_request_id_headers(self):
        server = self.start_server()
        for piece in INVALID_UTF8 + [b"\t", b"\x7f"]:
            status, answer, _ = http_raw(server.port, "GET", b"/v1/jobs", token=None,
                                         headers=[(b"Authorization", b"Bearer " + TOKEN[:5].encode()
                                                   + piece + TOKEN[5:].encode())])
            self.judge(("Authorization", piece), status, answer, "Authorization")
            # X-Request-Id is neither stored nor compared: a hostile one is replaced by a new id.
            status, answer, headers = http_raw(server.port, "GET", b"/v1/jobs",
                                               headers=[(b"X-Request-Id", b"r" + piece + b"x")])
            if status == 400:  # DEL: the HTTP parser refuses it in any header
                self.assertEqual(answer["error"]["field"], "X-Request-Id", answer)
            else:
                self.assertEqual(status, 200, (piece, answer))
                self.assertRegex(headers["x-request-id"], r"^[0-9a-f-]{36}$")
        self.report("Authorization")

    def test_query_parameters_and_path_ids(self):
        server = self.start_server()
        status, transfer, _ = http_raw(server.port, "POST", b"/v1/recurring-transfers",
                                       json.dumps(self.body()).encode())
        self.assertEqual(status, 201, transfer)
        lists = {
            b"/v1/recurring-transfers": ["status", "limit", "cursor"],
            f"/v1/recurring-transfers/{transfer['id']}/jobs".encode():
                ["status", "result", "settlement_status", "limit", "cursor"],
            b"/v1/jobs": ["status", "result", "settlement_status", "recurring_transfer_id",
                          "limit", "cursor"],
            b"/v1/webhook-endpoints": ["limit", "cursor"],
            b"/v1/webhook-deliveries": ["endpoint_id", "status", "limit", "cursor"],
            b"/v1/events": ["after", "limit"],
            b"/v1/backups": ["limit"],
        }
        pieces = CONTROLS + INVALID_UTF8
        for path, params in lists.items():
            for param in params:
                for piece in pieces:
                    value = b"".join(b"%%%02X" % b for b in b"a" + piece + b"b")
                    status, answer, _ = http_raw(server.port, "GET",
                                                 path + b"?" + param.encode() + b"=" + value)
                    self.judge((path, param, piece), status, answer, param)
            for piece in pieces:  # in a parameter's name
                name = b"".join(b"%%%02X" % b for b in b"x" + piece)
                status, answer, _ = http_raw(server.port, "GET", path + b"?" + name + b"=1")
                self.assertEqual(status, 400, (path, piece, answer))
        id_routes = [("GET", "/v1/jobs/{}"), ("POST", "/v1/jobs/{}/process"),
                     ("POST", "/v1/jobs/{}/retry"), ("GET", "/v1/jobs/{}/provider-statuses"),
                     ("GET", "/v1/recurring-transfers/{}"), ("POST", "/v1/recurring-transfers/{}/pause"),
                     ("GET", "/v1/webhook-endpoints/{}"), ("DELETE", "/v1/webhook-endpoints/{}"),
                     ("GET", "/v1/webhook-deliveries/{}"), ("POST", "/v1/bank-webhooks/{}")]
        for method, pattern in id_routes:
            for piece in pieces:
                encoded = b"".join(b"%%%02X" % b for b in transfer["id"][:8].encode() + piece)
                target = pattern.encode().replace(b"{}", encoded)
                status, answer, _ = http_raw(server.port, method, target, b"{}" if method == "POST" else b"")
                self.assertIn(status, (400, 404), (target, answer))
                self.counts["refused"] = self.counts.get("refused", 0) + 1
        self.assert_log_intact(server)
        self.report("query parameters and path ids")


@for_each_backend
class WebhookEndpointText(HostileCase):
    env = {"RT_WEBHOOK_ALLOW_PRIVATE": "true"}
    FIELDS = {"url": "http://127.0.0.1:9/hook", "description": "our ledger",
              "event_types[0]": "job.failed"}

    def test_every_control_character_and_invalid_utf8_in_every_field(self):
        server = self.start_server(env=self.env)
        for field, base in self.FIELDS.items():
            for piece in [c.decode() for c in CONTROLS] + INVALID_UTF8 + CONTROLS:
                body = {"url": self.FIELDS["url"]}
                set_path(body, field, base[:1] + PLACEHOLDER + base[1:])
                status, answer, _ = http_raw(server.port, "POST", b"/v1/webhook-endpoints",
                                             json_with(body, piece))
                sent = None if as_text(piece) is None else base[:1] + as_text(piece) + base[1:]

                def read_back(answer=answer, field=field):
                    code, stored, _ = http_raw(server.port, "GET",
                                               f"/v1/webhook-endpoints/{answer['id']}".encode())
                    self.assertEqual(code, 200, stored)
                    return get_path(stored, field)

                self.judge((field, piece), status, answer,
                           (field, field.replace("[0]", "")), read_back, sent)
        self.report("webhook endpoints")


@for_each_backend
class BankWebhookText(HostileCase):
    """The generic http provider's Standard Webhooks, signed with the configured secret: the
    webhook-id header is stored (as the event's id), and so are the body's type and data.id."""

    def test_signed_deliveries_with_hostile_text(self):
        secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
        server = self.start_server(env={"E2E_GENERIC_HOOK": secret},
                                   extra_config='webhook_secret_env = "E2E_GENERIC_HOOK"\n')
        key = base64.b64decode(secret[len("whsec_"):])

        def deliver(body, event_id):
            ts = str(int(time.time())).encode()
            signature = base64.b64encode(hmac.new(key, event_id + b"." + ts + b"." + body,
                                                  hashlib.sha256).digest())
            return http_raw(server.port, "POST", b"/v1/bank-webhooks/bank", body, token=None,
                            headers=[(b"webhook-id", event_id), (b"webhook-timestamp", ts),
                                     (b"webhook-signature", b"v1," + signature)])

        doc = {"type": "transfer.updated", "timestamp": "2026-01-01T00:00:00Z",
               "data": {"id": "tr_1", "status": "settled"}}
        status, answer, _ = deliver(json.dumps(doc).encode(), b"msg_" + uuid.uuid4().hex.encode())
        self.assertEqual(status, 200, answer)
        for piece in CONTROLS + INVALID_UTF8:
            if piece in (b"\r", b"\n"):
                continue
            status, answer, _ = deliver(json.dumps(doc).encode(),
                                        b"msg_" + uuid.uuid4().hex.encode() + piece + b"x")
            # Nothing reads the inbox back over the API: accepted only where stored as is (no
            # NUL, valid UTF-8), which the database itself would have refused otherwise.
            self.assertNotEqual(status, 500, (piece, answer))
            if status != 200:
                self.judge(("webhook-id", piece), status, answer, "webhook-id")
            else:
                self.assertNotIn(piece, INVALID_UTF8)
        for piece in [c.decode() for c in CONTROLS] + INVALID_UTF8 + CONTROLS:
            for path in ("type", "data.id"):
                hostile = json.loads(json.dumps(doc))
                set_path(hostile, path, get_path(doc, path)[:1] + PLACEHOLDER)
                status, answer, _ = deliver(json_with(hostile, piece),
                                            b"msg_" + uuid.uuid4().hex.encode())
                self.assertNotEqual(status, 500, (path, piece, answer))
                if piece == "\x00" or as_text(piece) is None or status != 200:
                    self.judge((path, piece), status, answer, path)
                else:
                    self.counts["stored"] = self.counts.get("stored", 0) + 1
        self.assert_log_intact(server)
        self.report("bank webhooks")


if __name__ == "__main__":
    main()

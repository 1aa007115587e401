"""Row 12: events to the main API (issue 16) during the PostgreSQL burn-down (row 1's: N due
jobs seeded, `rtjobs serve` timed until none is left). Each round runs the burn-down twice,
seconds apart, in alternating order:
- off: no webhook endpoint (the outbox is written either way: every job's job.succeeded);
- on: one endpoint, registered before the start (inserted in the database, as
  POST /v1/webhook-endpoints would), on a local receiver (tools/webhook_receiver, --quiet:
  it verifies every delivery with the Standard Webhooks reference library and answers 200).
The figures: the burn-down's jobs/s with webhooks on against off (target >= 0.85x; the median
round is shown), and the events delivered a second, from the server's start until the
receiver has verified every event of the outbox (its backlog drained).
"""

import json
import subprocess
import time
import urllib.request

from burn_down import burn_down
from common import ROOT, log, psql

SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="
ENV = {"RT_WEBHOOK_ALLOW_PRIVATE": "true"}
DELIVERY_DEADLINE = 600  # seconds after the drain for the receiver to have every event


class Receiver:
    """tools/webhook_receiver, quiet (it counts, and keeps no bodies)."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "tools" / "webhook_receiver" / "server.js"), "--port", "0",
             "--host", "127.0.0.1", "--quiet"], stdout=subprocess.PIPE, text=True)
        self.url = "http://127.0.0.1:%d" % json.loads(self.proc.stdout.readline())["listening"]

    def _call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def expect(self, name, secret):
        self._call(f"/_control/secrets/{name}", {"secrets": [secret]})

    def verified(self, name):
        return self._call("/_control/counts").get(name, {}).get("verified", 0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def clear(url):
    psql(url, "TRUNCATE webhook_delivery, webhook_endpoint, event")


def register(url, hook):
    clear(url)
    psql(url, "INSERT INTO webhook_endpoint (id, url, event_types, secret, status, created_at,"
              " updated_at) VALUES ('019a0000-0000-7000-8000-000000000001', :'hook', '',"
              " :'secret', 'enabled', now() - interval '1 hour', now() - interval '1 hour')",
         {"hook": hook, "secret": SECRET})


def run_pair(ctx, receiver, jobs, index, on_first):
    name = f"bench{index}"  # a name per round: the receiver's counts start at 0
    hook = f"{receiver.url}/hooks/{name}"

    def wait_delivered(server, url):
        events = int(psql(url, "SELECT count(*) FROM event"))
        deadline = time.monotonic() + DELIVERY_DEADLINE
        while receiver.verified(name) < events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{receiver.verified(name)} of {events} events delivered")
            time.sleep(0.05)
        seconds = time.monotonic() - server.started
        return {"events": events, "seconds": seconds, "events_per_s": events / seconds}

    def off():
        return burn_down(ctx, "postgres", jobs, name=f"events-off-{index}", extra_env=ENV,
                         before_start=clear)

    def on():
        receiver.expect(name, SECRET)
        return burn_down(ctx, "postgres", jobs, name=f"events-on-{index}", extra_env=ENV,
                         before_start=lambda url: register(url, hook),
                         after_drained=wait_delivered)

    if on_first:
        mine, ref = on(), off()
    else:
        ref, mine = off(), on()
    return mine["jobs_per_s"] / ref["jobs_per_s"], mine, ref


def run(ctx):
    jobs, rounds = ctx.sizes["jobs"], ctx.sizes["rounds"]
    receiver = Receiver()
    try:
        pairs = [run_pair(ctx, receiver, jobs, i, i % 2 == 1) for i in range(rounds)]
    finally:
        receiver.stop()
    ordered = sorted(pairs, key=lambda p: p[0])
    ratio, mine, ref = ordered[len(ordered) // 2]
    result = {"on": mine, "off": ref, "ratio": ratio, "ratios": [round(p[0], 3) for p in pairs]}
    log(f"events: {result}")
    return result

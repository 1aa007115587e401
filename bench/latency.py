"""Row 4: latency-bound burn-down. The fake BaaS answers every transfer after L ms
(tools/fake_baas, --latency-ms); rtjobs drains N due jobs on the http provider with
RT_CONCURRENCY=C. Ideal throughput is C / L: every slot always has a bank call in flight.
The fake's /_control/stats gives the peak number of calls in flight it saw.
"""

import os

from burn_down import burn_down
from common import FakeBaas, log

PROVIDER = "bank"


def run(ctx, backend="postgres"):
    s = ctx.sizes
    concurrency, latency_ms = s["latency_concurrency"], s["latency_ms"]
    fake = FakeBaas(latency_ms)
    try:
        config = ctx.tmp / "latency.toml"
        config.write_text(
            f'[providers.{PROVIDER}]\ntype = "http"\nbase_url = "{fake.base_url}"\n'
            f'token_env = "BAAS_TOKEN"\ntimeout_ms = 10000\n')
        os.environ.setdefault("BAAS_TOKEN", "bench-baas-token")
        log(f"latency: fake BaaS on {fake.base_url}, {latency_ms} ms, C={concurrency}")
        result = burn_down(ctx, backend, s["latency_jobs"], provider=PROVIDER,
                           concurrency=concurrency, config=config, name="latency")
        stats = fake.stats()
    finally:
        fake.stop()
    ideal = concurrency / (latency_ms / 1000.0)
    result.update({"concurrency": concurrency, "latency_ms": latency_ms, "ideal_jobs_per_s": ideal,
                   "peak_in_flight": stats.get("peak_in_flight"),
                   "executed": stats.get("executed"), "requests": stats.get("requests")})
    return result

"""What the operations docs say of /metrics, checked against a real `rtjobs serve` (ctest
ops_metrics_docs).

Starts rtjobs on SQLite with the fake BaaS (tests/e2e/harness.py), has it process a transfer's
job (so the per-provider series exist), reads GET /metrics and checks:
  - the exposition: every histogram has cumulative `_bucket` series ending in le="+Inf" equal
    to its `_count`, and the request and bank-call histograms counted what was done;
  - docs/grafana-dashboard.json: valid JSON, and every panel's expressions name only metrics
    /metrics exposes;
  - docs/alerts.yml: every rule's expression names only metrics /metrics exposes;
  - docs/OPERATIONS.md's metrics table: one row per metric family /metrics exposes, and no row
    for one it does not, so the table cannot drift from the code.
Standard library only.
"""
import json
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402

ROOT = harness.ROOT
DASHBOARD = os.path.join(ROOT, "docs", "grafana-dashboard.json")
ALERTS = os.path.join(ROOT, "docs", "alerts.yml")
OPERATIONS = os.path.join(ROOT, "docs", "OPERATIONS.md")

# Words in a PromQL expression that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "deriv", "time",
    "histogram_quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "offset", "bool", "le", "topk", "bottomk", "clamp_min", "clamp_max", "abs",
    "vector", "scalar", "absent", "changes", "resets", "label_replace", "sort", "sort_desc",
    "min_over_time", "max_over_time", "avg_over_time", "last_over_time", "inf", "nan",
}


def parse_exposition(text):
    """(families {name: type}, samples [(name, labels dict, value)])."""
    families, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
        elif line and not line.startswith("#"):
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
            assert m, f"not an exposition line: {line!r}"
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            samples.append((m.group(1), labels, float(m.group(4))))
    return families, samples


def exposed_names(families):
    """Every name a query may use: the families, and a histogram's _bucket, _sum and _count."""
    names = set(families)
    for name, kind in families.items():
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def metric_names(expr):
    """The metric names in a PromQL expression: identifiers outside braces and strings that are
    neither functions, keywords, label names in by/without/on lists, nor durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    expr = re.sub(r"\{[^}]*\}", "{}", expr)                     # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)                      # ranges and subqueries
    expr = re.sub(r"\boffset\s+\d+[smhdwy]", "", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = m.group(0)
        if word.lower() in PROMQL_WORDS or word.startswith("$"):
            continue
        if expr[m.end():m.end() + 1] == "(":  # a function call
            continue
        names.add(word)
    return names


def dashboard_exprs(dashboard):
    """(panel title, expr) of every target of every panel, rows' nested panels included."""
    out = []
    for panel in dashboard.get("panels", []):
        for p in [panel] + panel.get("panels", []):
            for target in p.get("targets", []):
                if "expr" in target:
                    out.append((p.get("title", "?"), target["expr"]))
    return out


def alert_exprs(path):
    """(alert name, expr) of every rule: `expr:` on one line or as a `|` block."""
    out, name, lines = [], None, open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: ?(.*)$", line)
        if m:
            if m.group(2).strip() in ("|", ">", "|-", ">-"):
                block, indent = [], len(m.group(1))
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i])
                    i += 1
                out.append((name, "\n".join(block)))
                continue
            out.append((name, m.group(2)))
        i += 1
    return out


def operations_table(path):
    """The metric names in the first column of OPERATIONS.md's metrics table (rows whose first
    cell is a `code` name, between the "## Metrics" heading and the next "## ")."""
    text = open(path).read()
    start = text.index("\n## Metrics")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    return re.findall(r"^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|", section, re.M)


class MetricsDocs(harness.E2ECase):
    backend = "sqlite"

    @classmethod
    def setUpClass(cls):
        cls.metrics_text = None

    def scrape(self):
        """/metrics of a server that processed one job (succeeded at the fake BaaS)."""
        if MetricsDocs.metrics_text is None:
            server = self.start_server({"RT_BACKUP_ENABLED": "false"})
            transfer = self.create_transfer(server)
            job = self.first_job(server, transfer["id"])
            status, body, _ = server.http.post(f"/v1/jobs/{job['id']}/process")
            self.assertEqual(status, 200, body)
            status, text, _ = server.http.get("/metrics")
            self.assertEqual(status, 200, text)
            MetricsDocs.metrics_text = text
        return parse_exposition(MetricsDocs.metrics_text)

    def test_histograms_are_cumulative_and_count_what_was_done(self):
        families, samples = self.scrape()
        self.assertEqual(families.get("http_request_duration_seconds"), "histogram")
        self.assertEqual(families.get("rtjobs_bank_call_duration_seconds"), "histogram")
        histograms = [n for n, k in families.items() if k == "histogram"]
        for name in histograms:
            series = {}
            for sample, labels, value in samples:
                if sample.startswith(name + "_"):
                    key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                    series.setdefault(key, {"buckets": []})
                    if sample == name + "_bucket":
                        series[key]["buckets"].append((labels["le"], value))
                    else:
                        series[key][sample[len(name) + 1:]] = value
            for key, s in series.items():
                les = [le for le, _ in s["buckets"]]
                self.assertEqual(les[-1], "+Inf", (name, key))
                bounds = [float(le) for le in les[:-1]]
                self.assertEqual(bounds, sorted(bounds), (name, key))
                counts = [v for _, v in s["buckets"]]
                self.assertEqual(counts, sorted(counts), (name, key))  # cumulative
                self.assertEqual(counts[-1], s["count"], (name, key))
                self.assertIn("sum", s, (name, key))
        count = {(n, tuple(sorted(l.items()))): v for n, l, v in samples}
        bank = count[("rtjobs_bank_call_duration_seconds_count",
                      (("answer", "succeeded"), ("provider", "bank")))]
        self.assertEqual(bank, 1)
        process = count[("http_request_duration_seconds_count",
                         (("method", "POST"), ("route", "/v1/jobs/{job_id}/process")))]
        self.assertEqual(process, 1)

    def test_dashboard_names_only_exposed_metrics(self):
        families, _ = self.scrape()
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = dashboard_exprs(dashboard)
        self.assertGreaterEqual(len(exprs), 8, "the dashboard has too few queries")
        exposed = exposed_names(families)
        for title, expr in exprs:
            names = metric_names(expr)
            self.assertTrue(names, f"panel {title!r}: no metric in {expr!r}")
            self.assertLessEqual(names, exposed, f"panel {title!r}: {sorted(names - exposed)} "
                                                 "is not in /metrics")
        used = set().union(*(metric_names(e) for _, e in exprs))
        for histogram in ("http_request_duration_seconds", "rtjobs_bank_call_duration_seconds"):
            self.assertIn(histogram + "_bucket", used, "the dashboard shows no latency quantile")

    def test_alert_rules_name_only_exposed_metrics(self):
        families, _ = self.scrape()
        exposed = exposed_names(families)
        exprs = alert_exprs(ALERTS)
        self.assertGreaterEqual(len(exprs), 6)
        for alert, expr in exprs:
            names = metric_names(expr)
            self.assertTrue(names, f"{alert}: no metric in {expr!r}")
            self.assertLessEqual(names, exposed, f"{alert}: {sorted(names - exposed)} is not "
                                                 "in /metrics")

    def test_operations_guide_describes_every_metric_and_no_other(self):
        families, _ = self.scrape()
        rows = operations_table(OPERATIONS)
        self.assertEqual(len(rows), len(set(rows)), "a metric has two rows")
        self.assertEqual(sorted(set(families) - set(rows)), [],
                         "exposed at /metrics but not in docs/OPERATIONS.md's metrics table")
        self.assertEqual(sorted(set(rows) - set(families)), [],
                         "in docs/OPERATIONS.md's metrics table but not exposed at /metrics")


class Parsers(unittest.TestCase):
    """The checks above are only as good as the name extraction: it must find what is there."""

    def test_metric_names_skips_functions_labels_and_keywords(self):
        expr = ('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds'
                '_bucket{route!="/metrics"}[5m]))) > on (job) group_left max without (instance)'
                ' (rtjobs_jobs_due offset 15m) and time() - rtjobs_backup_last_success'
                '_timestamp_seconds > 33 * 86400')
        self.assertEqual(metric_names(expr), {"http_request_duration_seconds_bucket",
                                              "rtjobs_jobs_due",
                                              "rtjobs_backup_last_success_timestamp_seconds"})

    def test_alert_exprs_reads_one_line_and_block_expressions(self):
        path = os.path.join(harness.tempfile.mkdtemp(prefix="rtjobs-ops-"), "a.yml")
        with open(path, "w") as f:
            f.write("groups:\n  - rules:\n      - alert: A\n        expr: up_total > 0\n"
                    "      - alert: B\n        expr: |\n          x_total\n          and y\n"
                    "        for: 5m\n")
        self.assertEqual(alert_exprs(path), [("A", "up_total > 0"),
                                             ("B", "          x_total\n          and y")])


if __name__ == "__main__":
    unittest.main(verbosity=2)

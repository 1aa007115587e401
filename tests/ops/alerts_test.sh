#!/usr/bin/env bash
# The alert rules (docs/alerts.yml): `promtool check rules` (syntax, PromQL, templates) and
# `promtool test rules` on the synthetic series of docs/alerts_test.yml and
# docs/alerts_backup_test.yml. promtool is Debian's `prometheus` package, installed here on first
# use (as scripts/tidy.sh installs clang-tidy); its service is not started (no systemd here, and
# the package is only needed for the tool).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v promtool >/dev/null; then
  echo "installing: prometheus (for promtool)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool check rules docs/alerts.yml
promtool test rules docs/alerts_test.yml docs/alerts_backup_test.yml

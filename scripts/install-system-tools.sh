#!/usr/bin/env bash
# Installs the system tools the tests and the lab need (promtool, amtool, prometheus,
# alertmanager, node_exporter; npm for the charting library; chromium and chromedriver for the
# headless-browser tests of the lab's SLO page and the SLO report) from Debian's packages when
# they are missing and apt-get is available; elsewhere it says exactly what to install.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null 2>&1 || command -v node_exporter >/dev/null 2>&1 \
  || missing+=(prometheus-node-exporter)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if ((${#missing[@]} == 0)); then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "installing system tools: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the services where systemd runs; the lab starts its own copies.
  exit 0
fi

cat >&2 <<MSG
sre-platform needs these system tools, and apt-get is not available here to install them:
  ${missing[*]}
Install them with your package manager, or download the release binaries of
  prometheus (promtool, prometheus) 2.42 or newer, alertmanager (amtool) 0.25 or newer and
  node_exporter 1.5 or newer, Node.js 18+ with npm, Chromium with its chromedriver
and put them on PATH.
MSG
exit 1

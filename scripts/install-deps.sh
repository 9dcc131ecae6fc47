#!/bin/sh
# Install the Debian packages smpfleet needs to build, test and run its demo.
# Idempotent: when every package is already installed it changes nothing and
# needs no network. Run as root (or with sudo available).
set -eu

PACKAGES="
build-essential
pkg-config
libpaho-mqtt-dev
libmbedtls-dev
libcjson-dev
libcmocka-dev
libsqlite3-dev
libpq-dev
postgresql
sqlite3
mosquitto
mosquitto-clients
openssl
libssl-dev
python3-paho-mqtt
clang
libhpdf-dev
chromium
fonts-dejavu-core
libmicrohttpd-dev
libcurl4-openssl-dev
python3-aiosmtpd
curl
prometheus
debhelper
dpkg-dev
iproute2
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: missing packages:$missing; run this script as root" >&2
        exit 1
    fi
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

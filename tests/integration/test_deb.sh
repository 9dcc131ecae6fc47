#!/usr/bin/env bash
# The Debian packages on this machine: build smpfleet-{agent,collector,tools}
# (or reuse the ones `make deb` left in out/deb/ when no source is newer),
# install them with dpkg -i, check what the maintainer scripts and debhelper
# made (system user, owners and modes, conffiles, enabled units, runtime-only
# Depends, units that systemd-analyze accepts), run the INSTALLED binaries as
# user smpfleet with the installed example configs against a real broker,
# then purge all three and check that nothing is left: the user, its group,
# /var/lib/smpfleet, /etc/smpfleet. The purge also runs when the test fails.
#
# Needs root and a machine without smpfleet installed (it refuses to touch an
# existing installation, whose data a purge would delete). Cannot run here:
# it fails, it does not skip.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PACKAGES=(smpfleet-agent smpfleet-collector smpfleet-tools)
DEB_DIR=$REPO_ROOT/out/deb
DEV=dev-deb-1
CLINIC=clinic-deb

# ---- preconditions: fail loudly, never skip ----------------------------------

[ "$(id -u)" -eq 0 ] || fail "test_deb needs root (dpkg -i, runuser); run it as root"
for tool in dpkg dpkg-query systemd-analyze runuser sqlite3 mosquitto mosquitto_pub apt-cache; do
    command -v "$tool" >/dev/null || fail "$tool not found (./scripts/install-deps.sh)"
done
declare -F at_cleanup >/dev/null || fail "lib.sh has no at_cleanup; the purge-on-failure needs it"
for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = not-installed ] ||
        fail "$p is already on this machine ($st); this test installs and purges it, which would delete that installation's data"
done
getent passwd smpfleet >/dev/null && fail "user smpfleet exists already; refusing to run (purge would delete it)"
getent group smpfleet >/dev/null && fail "group smpfleet exists already; refusing to run"
for d in /etc/smpfleet /var/lib/smpfleet; do
    [ -e "$d" ] && fail "$d exists already; refusing to run (purge would delete it)"
done

# ---- the packages: reuse fresh ones, else build -------------------------------

# deb_of PACKAGE: the newest .deb of PACKAGE in DEB_DIR (empty when none).
deb_of() { ls -t "$DEB_DIR/$1"_*.deb 2>/dev/null | head -n 1 || true; }

need_build=0
for p in "${PACKAGES[@]}"; do
    deb=$(deb_of "$p")
    if [ -z "$deb" ]; then
        need_build=1
    elif [ -n "$(cd "$REPO_ROOT" && find Makefile agent collector common admin dashboard-export smpctl broker-config packaging \
        -newer "$deb" -type f -print -quit)" ]; then
        need_build=1
    fi
done
if [ "$need_build" -eq 1 ]; then
    log "building the packages (make deb)"
    start=$SECONDS
    make -C "$REPO_ROOT" BUILD="$BUILD" deb >"$WORK/make-deb.log" 2>&1 ||
        fail "make deb failed: $(tail -n 20 "$WORK/make-deb.log")"
    log "make deb took $((SECONDS - start)) s"
else
    log "reusing packages in $DEB_DIR (newer than every source)"
fi
debs=()
for p in "${PACKAGES[@]}"; do debs+=("$(deb_of "$p")"); done

# ---- install, and purge whatever happens next ----------------------------------

PURGED=0
# purge_all: stop our daemons (userdel refuses a user with processes), then
# purge. Runs on success below and, through at_cleanup, after a failure.
purge_all() {
    [ "$PURGED" -eq 1 ] && return 0
    PURGED=1
    local pid
    for pid in ${DAEMON_PIDS:-}; do kill_daemon "$pid"; done
    dpkg --purge "${PACKAGES[@]}" >"$WORK/purge.log" 2>&1 || {
        echo "test_deb: dpkg --purge failed:" >&9
        cat "$WORK/purge.log" >&9
        return 1
    }
}
at_cleanup purge_all

# kill_daemon PID: PID is a runuser whose child is the daemon; TERM both.
kill_daemon() {
    local pid=$1 child
    for child in $(pgrep -P "$pid" 2>/dev/null); do kill -TERM "$child" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

log "dpkg -i ${debs[*]##*/}"
dpkg -i "${debs[@]}" >"$WORK/install.log" 2>&1 || fail "dpkg -i failed: $(tail -n 20 "$WORK/install.log")"
for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p")" = installed ] || fail "$p is not fully installed"
done
echo "ok: installed ${PACKAGES[*]}"

# ---- the system user and the directories ----------------------------------------

IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd smpfleet)" || fail "no user smpfleet after install"
sys_uid_max=$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs 2>/dev/null)
[ "$uid" -le "${sys_uid_max:-999}" ] || fail "smpfleet uid $uid is not a system uid"
[ "$home" = /var/lib/smpfleet ] || fail "smpfleet's home is $home, expected /var/lib/smpfleet"
case $shell in */nologin | /bin/false) ;; *) fail "smpfleet has a login shell: $shell" ;; esac
[ "$(getent group smpfleet | cut -d: -f3)" = "$gid" ] || fail "smpfleet's primary group is not group smpfleet"
echo "ok: system user smpfleet (uid $uid, $shell, home $home)"

check_mode() {
    local got
    got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || fail "$1 missing"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
check_mode /etc/smpfleet "root:smpfleet 750"
check_mode /etc/smpfleet/pki "root:smpfleet 750"
check_mode /var/lib/smpfleet "smpfleet:smpfleet 750"
echo "ok: /etc/smpfleet, /etc/smpfleet/pki root:smpfleet 0750; /var/lib/smpfleet smpfleet:smpfleet 0750"

if getent passwd mosquitto >/dev/null; then
    id -nG mosquitto | tr ' ' '\n' | grep -qx smpfleet ||
        fail "user mosquitto is not in group smpfleet; it cannot reach /etc/smpfleet/pki and the ACL"
    echo "ok: user mosquitto is in group smpfleet"
fi

# ---- conffiles and installed files -------------------------------------------------

# check_conffiles PACKAGE FILE...: each FILE is a conffile of PACKAGE and exists.
check_conffiles() {
    local pkg=$1 f list
    shift
    list=$(dpkg-query -W -f='${Conffiles}\n' "$pkg")
    for f in "$@"; do
        grep -q "^ $f " <<<"$list" || fail "$f is not a conffile of $pkg (conffiles: $list)"
        [ -f "$f" ] || fail "conffile $f of $pkg is missing"
    done
}
check_conffiles smpfleet-agent /etc/smpfleet/agent.conf
check_conffiles smpfleet-collector /etc/smpfleet/collector.conf /etc/smpfleet/policy.conf \
    /etc/smpfleet/acl /etc/mosquitto/conf.d/smpfleet.conf
for f in agent.conf collector.conf policy.conf; do
    cmp -s "/etc/smpfleet/$f" "$REPO_ROOT/packaging/etc/$f" || fail "/etc/smpfleet/$f differs from packaging/etc/$f"
done
grep -q '^acl_file /etc/smpfleet/acl$' /etc/mosquitto/conf.d/smpfleet.conf ||
    fail "the mosquitto drop-in does not name /etc/smpfleet/acl"
for b in smp-agent smp-collector smpctl; do [ -x "/usr/bin/$b" ] || fail "/usr/bin/$b missing"; done
echo "ok: conffiles in place (agent.conf, collector.conf, policy.conf, acl, mosquitto conf.d/smpfleet.conf)"

# Enabled for boot by deb-systemd-helper (not started: no PKI yet).
for u in smp-agent smp-collector; do
    [ -L "/etc/systemd/system/multi-user.target.wants/$u.service" ] || fail "$u.service is not enabled"
done
echo "ok: smp-agent.service and smp-collector.service enabled"

# ---- Depends: runtime libraries only, also transitively ------------------------------

BANNED='(-dev$|^chromium|^prometheus|^clang|^build-essential$)'
for p in "${PACKAGES[@]}"; do
    deps=$(dpkg-query -W -f='${Depends}${Pre-Depends:+, }${Pre-Depends}' "$p")
    names=$(tr ',|' '\n\n' <<<"$deps" | sed 's/(.*//; s/:any//; s/[[:space:]]//g' | grep . | sort -u)
    bad=$(grep -E "$BANNED" <<<"$names" || true)
    [ -z "$bad" ] || fail "$p Depends on $bad"
    # What installing it could pull in: the closure of its Depends.
    # shellcheck disable=SC2086 # one name per word
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances $names 2>/dev/null | sed -n 's/^\([^ <][^ ]*\)$/\1/p' | sort -u)
    bad=$(grep -E "$BANNED" <<<"$closure" || true)
    [ -z "$bad" ] || fail "$p pulls in $(tr '\n' ' ' <<<"$bad")through its Depends"
    echo "ok: $p Depends: $deps"
done

# ---- systemd-analyze verify on the installed units -------------------------------------

for u in smp-agent smp-collector mosquitto; do
    [ -f "/lib/systemd/system/$u.service" ] || continue
    out=$(systemd-analyze verify --man=no "/lib/systemd/system/$u.service" 2>&1) ||
        fail "systemd-analyze verify $u.service: $out"
    # verify exits 0 on some warnings; none are expected from our units.
    [ -z "$out" ] || fail "systemd-analyze verify $u.service warned: $out"
done
[ -f /lib/systemd/system/mosquitto.service.d/smpfleet.conf ] || fail "mosquitto.service drop-in missing"
echo "ok: systemd-analyze verify smp-agent, smp-collector, mosquitto (+ smpfleet drop-in)"

# Without a PKI the drop-in's precheck stops mosquitto with a hint.
if out=$(/usr/share/smpfleet/mosquitto-precheck 2>&1); then
    fail "mosquitto-precheck passed without /etc/smpfleet/pki/broker.key"
fi
grep -q 'smpctl pki' <<<"$out" || fail "mosquitto-precheck gave no hint: $out"
echo "ok: mosquitto-precheck refuses a missing PKI: $(head -n 1 <<<"$out")"

# ---- run the installed binaries ----------------------------------------------------------

PKI=$WORK/pki
/usr/bin/smpctl pki init --dir "$PKI" >/dev/null || fail "smpctl pki init"
/usr/bin/smpctl pki issue-broker --dir "$PKI" >/dev/null || fail "smpctl pki issue-broker"
/usr/bin/smpctl pki issue-collector --dir "$PKI" >/dev/null || fail "smpctl pki issue-collector"
/usr/bin/smpctl pki issue-device "$DEV" --dir "$PKI" >/dev/null || fail "smpctl pki issue-device"
# The daemons run as smpfleet and load their own keys (README.Debian).
chown smpfleet:smpfleet "$PKI/collector.key" "$PKI/devices/$DEV.key"
start_broker "$PKI" "$WORK/broker"

# The package's tmpfiles.d entry made the feed socket's directory.
[ "$(stat -c '%U:%G %a' /run/smpfleet 2>/dev/null)" = "smpfleet:smpfleet 750" ] ||
    fail "/run/smpfleet is '$(stat -c '%U:%G %a' /run/smpfleet 2>&1)', expected smpfleet:smpfleet 750 (tmpfiles.d)"
# The test's own socket dir, so it never touches a real agent's.
RUN_DIR=$WORK/run
install -d -o smpfleet -g smpfleet -m 0750 "$RUN_DIR"

# conf_from INSTALLED OUT SED-EXPR...: OUT = the installed example with each
# substitution applied; fails when one matches nothing (the example changed).
conf_from() {
    local src=$1 out=$2 e
    shift 2
    cp "$src" "$out"
    for e in "$@"; do
        cp "$out" "$out.prev"
        sed -i "$e" "$out"
        ! cmp -s "$out" "$out.prev" || fail "$src: '$e' changed nothing; update test_deb.sh"
    done
    rm -f "$out.prev"
}
conf_from /etc/smpfleet/collector.conf "$WORK/collector.conf" \
    "s|/etc/smpfleet/pki/|$PKI/|g" \
    "s|^#broker_port = .*|broker_port = $BROKER_PORT|"
conf_from /etc/smpfleet/agent.conf "$WORK/agent.conf" \
    "s|/etc/smpfleet/pki/device\.|$PKI/devices/$DEV.|g" \
    "s|/etc/smpfleet/pki/|$PKI/|g" \
    "s|^#device_id = .*|device_id = $DEV|" \
    "s|^#broker_port = .*|broker_port = $BROKER_PORT|" \
    "s|^#ack_timeout_s = .*|ack_timeout_s = 5|" \
    "s|/run/smpfleet/|$RUN_DIR/|"

# The daemons' command lines exactly as the installed units run them, with
# the test's config in place of /etc/smpfleet's.
exec_start() {
    sed -n 's/^ExecStart=//p' "/lib/systemd/system/$1.service" | sed "s|/etc/smpfleet/$2|$WORK/$2|"
}
read -ra COLLECTOR_CMD <<<"$(exec_start smp-collector collector.conf)"
read -ra AGENT_CMD <<<"$(exec_start smp-agent agent.conf)"
[ "${COLLECTOR_CMD[0]}" = /usr/bin/smp-collector ] || fail "unexpected ExecStart: ${COLLECTOR_CMD[*]}"
[ "${AGENT_CMD[0]}" = /usr/bin/smp-agent ] || fail "unexpected ExecStart: ${AGENT_CMD[*]}"

# As smpfleet, each daemon finds its certificates, key and state dir usable.
for cmd in COLLECTOR_CMD AGENT_CMD; do
    declare -n argv=$cmd
    out=$(runuser -u smpfleet -- "${argv[@]}" --check-config 2>&1) ||
        fail "${argv[*]} --check-config as smpfleet: $out"
done
echo "ok: both daemons' --check-config pass as smpfleet with the installed example configs"

DB=/var/lib/smpfleet/fleet.db
[ ! -e "$DB" ] || fail "the packages created $DB (only smpctl db migrate may)"
runuser -u smpfleet -- /usr/bin/smpctl db migrate --db "$DB" >/dev/null || fail "smpctl db migrate (as smpfleet)"
runuser -u smpfleet -- /usr/bin/smpctl device add "$DEV" --clinic "$CLINIC" \
    --cert "$PKI/devices/$DEV.crt" --db "$DB" >/dev/null || fail "smpctl device add (as smpfleet)"

DAEMON_PIDS=""
runuser -u smpfleet -- "${COLLECTOR_CMD[@]}" 2>>"$WORK/collector.log" &
COLLECTOR_PID=$!
DAEMON_PIDS="$DAEMON_PIDS $COLLECTOR_PID"
wait_until 15 grep -q 'subscribed topics=' "$WORK/collector.log" ||
    fail "installed smp-collector did not subscribe: $(tail -n 5 "$WORK/collector.log")"
echo "ok: ${COLLECTOR_CMD[*]} runs as smpfleet and subscribed"

start=$SECONDS
runuser -u smpfleet -- "${AGENT_CMD[@]}" --simulate --seed 5 --speed 0 --sim-start 2026-03-02 \
    --exit-when-done 2>>"$WORK/agent.log" &
AGENT_PID=$!
DAEMON_PIDS="$DAEMON_PIDS $AGENT_PID"
wait_until 120 bash -c "! kill -0 $AGENT_PID 2>/dev/null" ||
    fail "installed smp-agent did not finish its clinic day in 120 s: $(tail -n 5 "$WORK/agent.log")"
wait "$AGENT_PID" || fail "installed smp-agent exited with status $?: $(tail -n 5 "$WORK/agent.log")"
echo "ok: ${AGENT_CMD[*]} --simulate ran a clinic day as smpfleet in $((SECONDS - start)) s"

status_file=/var/lib/smpfleet/agent/status
head=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["head_seq"])' "$status_file") ||
    fail "no agent status in $status_file"
[ "$head" -gt 100 ] || fail "agent journaled only $head records"
count=$(sqlite3 "$DB" "SELECT count(DISTINCT seq) FROM records WHERE device_id='$DEV'")
[ "$count" = "$head" ] || fail "agent journaled $head records, the installed collector stored $count"
check_mode /var/lib/smpfleet/agent "smpfleet:smpfleet 700"
[ "$(stat -c %U "$DB")" = smpfleet ] || fail "$DB is not owned by smpfleet"
install -d -o smpfleet -g smpfleet "$WORK/report"
runuser -u smpfleet -- /usr/bin/smpctl report --db "$DB" --clinic "$CLINIC" --from 2026-03-02 --to 2026-03-02 \
    --format csv --out "$WORK/report/report.csv" >/dev/null || fail "smpctl report (as smpfleet)"
grep -q "$DEV" "$WORK/report/report.csv" || fail "report.csv does not name $DEV"
echo "ok: $count records stored once in $DB; smpctl report names $DEV"

kill_daemon "$COLLECTOR_PID"
DAEMON_PIDS=""

# ---- the mosquitto drop-in, loaded the way Debian's mosquitto loads it ---------------------

# A stand-in for Debian's /etc/mosquitto/mosquitto.conf (process part, then
# include_dir) with paths in WORK, including the installed drop-in with only
# its PKI dir and listener changed. The ACL stays /etc/smpfleet/acl, so user
# mosquitto must get through the 0750 /etc/smpfleet as on a server.
if getent passwd mosquitto >/dev/null; then
    DEB_BROKER=$WORK/debian-broker
    mkdir -p "$DEB_BROKER/conf.d"
    chown mosquitto "$DEB_BROKER"
    port=$(free_port)
    sed -e "s|/etc/smpfleet/pki/|$PKI/|" -e "s|^listener 8883 0\.0\.0\.0$|listener $port 127.0.0.1|" \
        /etc/mosquitto/conf.d/smpfleet.conf >"$DEB_BROKER/conf.d/smpfleet.conf"
    grep -q "^listener $port 127.0.0.1$" "$DEB_BROKER/conf.d/smpfleet.conf" ||
        fail "the installed drop-in has no 'listener 8883 0.0.0.0' line: $(grep '^listener' /etc/mosquitto/conf.d/smpfleet.conf)"
    cat >"$DEB_BROKER/mosquitto.conf" <<CONF
user mosquitto
pid_file $DEB_BROKER/mosquitto.pid
persistence true
persistence_location $DEB_BROKER/
log_dest file $DEB_BROKER/mosquitto.log
include_dir $DEB_BROKER/conf.d
CONF
    mosquitto -c "$DEB_BROKER/mosquitto.conf" -d 2>"$DEB_BROKER/stderr" ||
        fail "mosquitto with the installed drop-in did not start: $(cat "$DEB_BROKER/stderr")"
    wait_until 10 test -s "$DEB_BROKER/mosquitto.pid" || fail "mosquitto with the drop-in wrote no pid file"
    track_pid "$(cat "$DEB_BROKER/mosquitto.pid")"
    # ss, not a probe connection: a bare TCP connect is a TLS error in its log.
    wait_until 10 bash -c "ss -Hltn 'sport = :$port' | grep -qF 127.0.0.1:$port" ||
        fail "mosquitto with the installed drop-in is not listening: $(tail -n 5 "$DEB_BROKER/mosquitto.log")"
    mqtt_tls "$PKI" collector
    mosquitto_pub -h 127.0.0.1 -p "$port" -V mqttv5 -q 1 "${MQTT_TLS[@]}" -t "smp/v1/alerts/$CLINIC" -m probe ||
        fail "the collector cannot publish through the drop-in broker: $(tail -n 5 "$DEB_BROKER/mosquitto.log")"
    grep -q 'Error' "$DEB_BROKER/mosquitto.log" && fail "drop-in broker logged errors: $(grep Error "$DEB_BROKER/mosquitto.log")"
    kill -TERM "$(cat "$DEB_BROKER/mosquitto.pid")"
    echo "ok: Debian-style mosquitto loads /etc/mosquitto/conf.d/smpfleet.conf and /etc/smpfleet/acl; mutual TLS works"
fi

# ---- remove and purge --------------------------------------------------------------------

# Purging one daemon package leaves what the other still uses.
dpkg --purge smpfleet-agent >"$WORK/purge-agent.log" 2>&1 || fail "dpkg --purge smpfleet-agent: $(cat "$WORK/purge-agent.log")"
getent passwd smpfleet >/dev/null || fail "purging the agent removed user smpfleet, which the collector still uses"
[ -e /var/lib/smpfleet/agent ] && fail "purging the agent left /var/lib/smpfleet/agent"
[ -f "$DB" ] || fail "purging the agent removed the collector's $DB"
[ -e /etc/smpfleet/agent.conf ] && fail "purging the agent left /etc/smpfleet/agent.conf"
echo "ok: purge of smpfleet-agent alone removed its state and conffile, kept the collector's"

# remove keeps conffiles, state and the user (Debian policy); only the program goes.
dpkg --remove smpfleet-collector >"$WORK/remove.log" 2>&1 || fail "dpkg --remove smpfleet-collector: $(cat "$WORK/remove.log")"
[ "$(dpkg-query -W -f='${db:Status-Status}' smpfleet-collector)" = config-files ] || fail "smpfleet-collector is not in state config-files after remove"
for f in /etc/smpfleet/collector.conf /etc/smpfleet/policy.conf /etc/smpfleet/acl /etc/mosquitto/conf.d/smpfleet.conf "$DB"; do
    [ -f "$f" ] || fail "dpkg --remove deleted $f"
done
[ -e /usr/bin/smp-collector ] && fail "dpkg --remove left /usr/bin/smp-collector"
getent passwd smpfleet >/dev/null || fail "dpkg --remove deleted user smpfleet"
echo "ok: remove of smpfleet-collector kept its conffiles, the database and the user"

# ---- purge: nothing of smpfleet may be left -------------------------------------------------

purge_all || fail "dpkg --purge failed"
for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = not-installed ] || fail "$p is still $st after purge"
done
getent passwd smpfleet >/dev/null && fail "user smpfleet is left after purge"
getent group smpfleet >/dev/null && fail "group smpfleet is left after purge"
for f in /var/lib/smpfleet /etc/smpfleet /etc/mosquitto/conf.d/smpfleet.conf /usr/share/smpfleet \
    /lib/systemd/system/mosquitto.service.d/smpfleet.conf /etc/systemd/system/multi-user.target.wants/smp-agent.service \
    /etc/systemd/system/multi-user.target.wants/smp-collector.service /usr/bin/smp-agent /usr/bin/smpctl; do
    [ -e "$f" ] || [ -L "$f" ] && fail "$f is left after purge"
done
echo "ok: purged; no smpfleet user, group, /var/lib/smpfleet, /etc/smpfleet or unit links left"

#!/usr/bin/env bash
# The README's "Install on a fleet", followed literally: its ```sh blocks
# run as written, the build block in the repository, every "# on the server"
# part in a network namespace "server" (192.0.2.10, fleet.example.com) and
# every "# on the machine" part in a namespace "machine" (192.0.2.21) joined
# to it by a veth pair. The packages are really installed with apt-get on
# this host (both namespaces share its files, so the server's and the
# machine's files must not collide, as on two hosts they would not), and
# purged at the end. Two things stand in for what a sandbox lacks:
# systemctl (no systemd runs here; systemctl_shim.py runs the installed
# units' Exec lines as their User) and carrying chair-01.tgz from the server
# to the machine (a cp). Then it checks that the remote agent is connected,
# that an event fed on the machine is stored on the server, and that the
# revoked chair-02 is refused by the broker.
#
# Needs root. Cleans up namespaces, /etc/netns entries, processes, packages.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || fail "needs root (namespaces, dpkg)"
for p in smpfleet-agent smpfleet-collector smpfleet-tools; do
    if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -q installed; then
        fail "$p is already installed on this host; this test installs and purges it itself"
    fi
done

# The README creates the fleet's PKI in /etc/smpfleet; a purge keeps keys
# made there, so this test removes the directory itself, and therefore only
# runs where there was none.
[ ! -e /etc/smpfleet ] || fail "/etc/smpfleet exists on this host; this test creates and removes it"

TAG=$(printf '%04x' $((RANDOM % 65536)))
NS_SERVER=smp-srv-$TAG NS_MACHINE=smp-mach-$TAG
SHIM=$WORK/shim
export SMP_SHIM_STATE=$WORK/units
mkdir -p "$SHIM" "$SMP_SHIM_STATE" "$WORK/server" "$WORK/machine"
ln -s "$REPO_ROOT/tests/integration/systemctl_shim.py" "$SHIM/systemctl"

# Everything the blocks started is stopped and removed even on failure:
# units first, then packages, then the network.
at_cleanup "ip netns del $NS_SERVER; ip netns del $NS_MACHINE; rm -rf /etc/netns/$NS_SERVER /etc/netns/$NS_MACHINE"
at_cleanup "dpkg --purge smpfleet-agent smpfleet-collector smpfleet-tools; rm -rf /etc/smpfleet; rm -f /var/lib/mosquitto/mosquitto.db"
at_cleanup "for u in smp-agent smp-collector mosquitto; do PATH=$SHIM:\$PATH SMP_SHIM_STATE=$SMP_SHIM_STATE systemctl stop \$u; done"

for ns in "$NS_SERVER" "$NS_MACHINE"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1 localhost\n192.0.2.10 fleet.example.com alerts.example.com\n' >"/etc/netns/$ns/hosts"
done
ip link add "s-$TAG" netns "$NS_SERVER" type veth peer name "m-$TAG" netns "$NS_MACHINE"
ip -n "$NS_SERVER" addr add 192.0.2.10/24 dev "s-$TAG"
ip -n "$NS_MACHINE" addr add 192.0.2.21/24 dev "m-$TAG"
ip -n "$NS_SERVER" link set "s-$TAG" up
ip -n "$NS_MACHINE" link set "m-$TAG" up

# The README's webhook, http://alerts.example.com:8080/smpfleet: a receiver
# on the server's address that keeps each request's signature and body.
cat >"$WORK/hook.py" <<'PY'
import http.server, json, sys
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "sig": self.headers.get("X-Smpfleet-Signature"),
                                "body": body.decode()}) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("192.0.2.10", 8080), H).serve_forever()
PY
ip netns exec "$NS_SERVER" /usr/bin/python3 "$WORK/hook.py" "$WORK/hook.jsonl" 2>"$WORK/hook.err" &
track_pid $!

# ---- the README's blocks ---------------------------------------------------

"$REPO_ROOT/tests/integration/readme_blocks.sh" "$REPO_ROOT/README.md" "Install on a fleet" >"$WORK/fleet.sh"
# Split into parts: the build block (no host comment), then one file per
# "# on the server" / "# on the machine" run, in order.
mkdir -p "$WORK/parts"
awk -v dir="$WORK/parts" '
    BEGIN { n = 0; f = sprintf("%s/%02d-build", dir, n) }
    /^# on the server$/ { n++; f = sprintf("%s/%02d-server", dir, n); next }
    /^# on the machine$/ { n++; f = sprintf("%s/%02d-machine", dir, n); next }
    /^# on the dashboard$/ { n++; f = sprintf("%s/%02d-dashboard", dir, n); next }
    { print > f }
' "$WORK/fleet.sh"
nparts=$(ls "$WORK/parts" | wc -l)
[ "$nparts" -ge 8 ] || fail "only $nparts parts found in the README's fleet section"

# run_part FILE: one part, as root, in its namespace and home directory.
run_part() {
    local part=$1 kind ns home
    kind=${part##*-}
    case $kind in
        build) local t0=$SECONDS
               (cd "$REPO_ROOT" && bash -euo pipefail "$part") >"$part.out" 2>&1 ||
                   fail "README build block failed: $(tail -20 "$part.out")"
               log "README build: $(grep -v '^$' "$part") in $((SECONDS - t0)) s"
               # What the reader copies: the debs to each host's home.
               cp "$REPO_ROOT"/out/deb/smpfleet-collector_*.deb "$REPO_ROOT"/out/deb/smpfleet-tools_*.deb "$WORK/server/"
               cp "$REPO_ROOT"/out/deb/smpfleet-agent_*.deb "$WORK/machine/"
               return ;;
        server) ns=$NS_SERVER home=$WORK/server ;;
        machine) ns=$NS_MACHINE home=$WORK/machine ;;
        # The dashboard is one more host of the clinic's network.
        dashboard) ns=$NS_MACHINE home=$WORK/dashboard
                   mkdir -p "$home"
                   cp "$WORK/server/main-street-desk.tgz" "$home/" ;;
    esac
    local t0=$SECONDS
    (cd "$home" && PATH=$SHIM:$PATH ip netns exec "$ns" bash -euo pipefail -x "$part") >"$part.out" 2>&1 ||
        fail "README block on the $kind failed: $(tail -20 "$part.out")"
    log "README on the $kind: $(grep -c . "$part") lines in $((SECONDS - t0)) s: $(head -c 60 "$part" | tr '\n' ' ')"
    # Carrying the archive to the machine, as the README says.
    if [ "$kind" = server ] && [ -f "$home/chair-01.tgz" ] && [ ! -f "$WORK/machine/chair-01.tgz" ]; then
        cp "$home/chair-01.tgz" "$WORK/machine/"
    fi
}

parts=("$WORK"/parts/*)
last=${#parts[@]}
# All but the last part ("Stop everything" ends on the server): run them,
# check the running fleet, then run the stop.
stop_at=$((last - 2))
for ((i = 0; i < stop_at; i++)); do run_part "${parts[$i]}"; done

# ---- what the reader now has -------------------------------------------------

in_machine() { ip netns exec "$NS_MACHINE" "$@"; }
in_server() { ip netns exec "$NS_SERVER" "$@"; }
wait_until 20 bash -c "ip netns exec $NS_MACHINE smp-agent -c /etc/smpfleet/agent.conf --status | grep -q '\"connected\":true'" ||
    fail "the machine's agent is not connected: $(in_machine smp-agent -c /etc/smpfleet/agent.conf --status; tail -5 "$SMP_SHIM_STATE/smp-agent.service.log")"
echo "ok: chair-01's agent on 192.0.2.21 connected to fleet.example.com"

# A producer on the machine writes one event; the server stores it.
event='{"type":"session.start","session_id":"S-README-1","operator_id":"op-7","client_ref":"c-42","treatment_no":1}'
answer=$(in_machine /usr/bin/python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect("/run/smpfleet/feed.sock")
s.sendall(sys.argv[1].encode()+b"\n"); print(s.makefile().readline().strip())' "$event")
[[ $answer == "ok "* ]] || fail "the feed socket answered '$answer'"
wait_until 20 bash -c "[ \"\$(sqlite3 /var/lib/smpfleet/fleet.db \"SELECT count(*) FROM records WHERE device_id='chair-01' AND body LIKE '%S-README-1%'\")\" = 1 ]" ||
    fail "the event fed on the machine did not reach the server's database"
echo "ok: an event fed on the machine ($answer) is stored once on the server"

# The revoked chair-02 cannot connect (its archive never left the server).
mkdir -p "$WORK/c2" && tar -xzf "$WORK/server/chair-02.tgz" -C "$WORK/c2"
if in_machine mosquitto_pub -h fleet.example.com -p 8883 -V mqttv5 --cafile "$WORK/c2/ca.crt" \
    --cert "$WORK/c2/chair-02.crt" --key "$WORK/c2/chair-02.key" -t smp/v1/dev/chair-02/status -m x \
    >"$WORK/c2.out" 2>&1; then
    fail "revoked chair-02 could still publish"
fi
echo "ok: revoked chair-02 refused by the broker: $(head -1 "$WORK/c2.out")"

# Getting alerts: the test message reached the webhook, signed with the
# secret the README made; the viewer saw a machine's status; the console
# lists chair-01 online.
[ -s "$WORK/hook.jsonl" ] || fail "the webhook received nothing from notify-test"
/usr/bin/python3 - "$WORK/hook.jsonl" /etc/smpfleet/webhook.secret <<'PY' || fail "webhook request not as documented: $(cat "$WORK/hook.jsonl")"
import hashlib, hmac, json, sys
req = json.loads(open(sys.argv[1]).readline())
key = open(sys.argv[2]).readline().rstrip("\n").encode()
want = "sha256=" + hmac.new(key, req["body"].encode(), hashlib.sha256).hexdigest()
assert req["path"] == "/smpfleet", req["path"]
assert hmac.compare_digest(want, req["sig"] or ""), (want, req["sig"])
assert json.loads(req["body"])["event"] == "test", req["body"]
PY
echo "ok: notify-test reached the README's webhook with a valid HMAC signature"
dash=$(ls "$WORK"/parts/*-dashboard.out)
grep -q '^smp/v1/dev/chair-0[12]/status ' "$dash" || fail "the viewer saw no machine status: $(tail -5 "$dash")"
echo "ok: the dashboard's viewer identity read $(grep -o '^smp/v1/dev/[^ ]*' "$dash" | head -1)"
grep -q 'chair-01 *main-street *online' "$WORK"/parts/*-server.out ||
    fail "smpctl fleet status does not list chair-01 online: $(grep -h -A4 'fleet status' "$WORK"/parts/*-server.out)"
echo "ok: smpctl fleet status lists chair-01 online"

# ---- stop everything ---------------------------------------------------------

for ((i = stop_at; i < last; i++)); do run_part "${parts[$i]}"; done
for u in smp-agent smp-collector mosquitto; do
    state=$(PATH=$SHIM:$PATH systemctl is-active "$u" || true)
    [ "$state" = inactive ] || fail "$u still $state after the README's stop block"
done
echo "ok: the README's stop block stopped agent, collector and broker"

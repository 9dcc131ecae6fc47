#!/usr/bin/python3
"""systemctl_shim.py: a stand-in for systemctl where no systemd runs (the
test sandbox and CI), so the README's `systemctl start smp-agent` can be run
as written. It reads the installed unit file and its drop-ins and does what
systemd would do with the lines that matter here: ExecStartPre, ExecStart,
ExecReload, User, Group, RuntimeDirectory(+Mode) and UMask. Processes start
in the caller's network namespace, detached, with stdout and stderr in
$SMP_SHIM_STATE/<unit>.log (the journal's stand-in); their pids are kept in
$SMP_SHIM_STATE/<unit>.pid.

    systemctl start|stop|restart|reload|enable|disable|is-active|status [--now] UNIT...

Not a service manager: no dependencies, no restarts, no sandboxing (the
units' hardening is checked by `systemd-analyze verify` in test_deb.sh)."""

import grp
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time

UNIT_DIRS = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]


def die(msg, code=1):
    print(f"systemctl (test shim): {msg}", file=sys.stderr)
    sys.exit(code)


def state_dir():
    d = os.environ.get("SMP_SHIM_STATE")
    if not d:
        die("SMP_SHIM_STATE is not set")
    os.makedirs(d, exist_ok=True)
    return d


def parse_unit(name):
    """The [Service] settings of a unit and its drop-ins, as lists."""
    if not name.endswith(".service"):
        name += ".service"
    files = []
    for d in UNIT_DIRS:
        if os.path.exists(os.path.join(d, name)):
            files.append(os.path.join(d, name))
            break
    if not files:
        die(f"Unit {name} not found.", 5)
    for d in reversed(UNIT_DIRS):
        dd = os.path.join(d, name + ".d")
        if os.path.isdir(dd):
            files += [os.path.join(dd, f) for f in sorted(os.listdir(dd)) if f.endswith(".conf")]
    svc = {}
    for path in files:
        section = None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line[0] in "#;":
                    continue
                if line.startswith("["):
                    section = line
                    continue
                if section != "[Service]" or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                if value == "":
                    svc.pop(key, None)  # an empty assignment resets a list
                else:
                    svc.setdefault(key, []).append(value)
    return name, svc


def last(svc, key, default=None):
    return svc.get(key, [default])[-1]


def pid_file(unit):
    return os.path.join(state_dir(), unit + ".pid")


def running_pid(unit):
    try:
        pid = int(open(pid_file(unit)).read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    # A zombie is not running.
    try:
        if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            return None
    except OSError:
        return None
    return pid


def as_user(svc):
    user, group = last(svc, "User"), last(svc, "Group")
    umask = last(svc, "UMask")

    def pre():
        os.setsid()
        if umask:
            os.umask(int(umask, 8))
        if group or user:
            gid = grp.getgrnam(group).gr_gid if group else pwd.getpwnam(user).pw_gid
            if user:
                os.initgroups(user, gid)
            os.setgid(gid)
        if user:
            os.setuid(pwd.getpwnam(user).pw_uid)
    return pre


def command(line, mainpid=None):
    """The argv of an Exec line; '-' prefix: failure ignored; '+'/'!': as root."""
    ignore, privileged = False, False
    while line and line[0] in "-+!@:":
        ignore |= line[0] == "-"
        privileged |= line[0] in "+!"
        line = line[1:]
    if mainpid is not None:
        line = line.replace("$MAINPID", str(mainpid))
    return shlex.split(line), ignore, privileged


def start(unit, svc):
    if running_pid(unit):
        return
    user = last(svc, "User")
    for rd in " ".join(svc.get("RuntimeDirectory", [])).split():
        path = os.path.join("/run", rd)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, int(last(svc, "RuntimeDirectoryMode", "0755"), 8))
        if user:
            os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(last(svc, "Group", user)).gr_gid)
    log = open(os.path.join(state_dir(), unit + ".log"), "ab")
    for line in svc.get("ExecStartPre", []):
        argv, ignore, privileged = command(line)
        rc = subprocess.call(argv, stdout=log, stderr=log,
                             preexec_fn=None if privileged else as_user(svc))
        if rc != 0 and not ignore:
            log.close()
            die(f"Job for {unit} failed: ExecStartPre {argv[0]} exited {rc}; see {log.name}")
    argv, _, _ = command(last(svc, "ExecStart"))
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         preexec_fn=as_user(svc))
    with open(pid_file(unit), "w") as f:
        f.write(str(p.pid))
    time.sleep(1.0)
    if p.poll() is not None:
        die(f"Job for {unit} failed: {argv[0]} exited {p.returncode} at once; see {log.name}")


def stop(unit):
    pid = running_pid(unit)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not running_pid(unit):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        # Reap it if it is our child's child no more: nothing to wait for here.
    try:
        os.unlink(pid_file(unit))
    except FileNotFoundError:
        pass


def reload(unit, svc):
    pid = running_pid(unit)
    if not pid:
        die(f"{unit} is not active, cannot reload.")
    if "ExecReload" in svc:
        argv, _, _ = command(last(svc, "ExecReload"), pid)
        if subprocess.call(argv) != 0:
            die(f"reload of {unit} failed")
    else:
        os.kill(pid, signal.SIGHUP)


def main(args):
    now = "--now" in args
    args = [a for a in args if a not in ("--now", "--quiet", "-q", "--no-pager")]
    if len(args) < 2:
        die("usage: systemctl VERB UNIT...", 2)
    verb, units = args[0], args[1:]
    rc = 0
    for u in units:
        unit, svc = parse_unit(u)
        if verb == "start" or (verb == "enable" and now):
            start(unit, svc)
        elif verb == "stop" or (verb == "disable" and now):
            stop(unit)
        elif verb == "restart":
            stop(unit)
            start(unit, svc)
        elif verb == "reload":
            reload(unit, svc)
        elif verb in ("enable", "disable"):
            pass  # boot-time state: nothing boots here
        elif verb == "is-active":
            active = running_pid(unit) is not None
            print("active" if active else "inactive")
            rc = rc or (0 if active else 3)
        elif verb == "status":
            pid = running_pid(unit)
            print(f"{unit}: " + (f"active (running), main pid {pid}" if pid else "inactive (dead)"))
            rc = rc or (0 if pid else 3)
        else:
            die(f"verb {verb} is not supported by the test shim", 2)
    sys.exit(rc)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Attacks on the bubblewrap sandbox; each asserts the harm did not happen (not just that an
error occurred). Standard library and ``curate_sandbox`` only: ``test_attacks.py`` runs them in
the test process, and again in a subprocess as an unprivileged user::

    python attacks.py --pkg plugins/curate-sandbox      # prints {"attack": null | "failure", ...}

Every attack first makes sure the program really ran (it prints a line only it knows), so an
attack that merely crashed at start cannot pass for a blocked one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

ATTACKS: dict[str, Callable[["Context"], None]] = {}


def attack(fn: Callable[["Context"], None]) -> Callable[["Context"], None]:
    ATTACKS[fn.__name__.removeprefix("attack_")] = fn
    return fn


class Context:
    """Host-side fixtures of an attack: a scratch folder anyone may write to, a unique marker."""

    def __init__(self) -> None:
        from curate_sandbox import run_python

        self._run_python = run_python
        self.tmp = tempfile.mkdtemp(prefix="curate-attack-")
        os.chmod(self.tmp, 0o777)  # so that only the sandbox, not file modes, stops a write
        self.marker = "curate-attack-" + secrets.token_hex(8)

    def run(self, code: str, **kw):
        kw.setdefault("timeout_s", 10)
        return self._run_python(code, **kw)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _ran(result, token: str = "ATTACK-RAN") -> None:
    assert token in result.stdout, f"the attack program did not run to its end: {result!r}"


def processes_with(text: str) -> list[int]:
    """Host pids whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _no_leftovers(marker: str) -> None:
    """No process carrying ``marker`` survives (checking the check first: a host process with the
    marker must be found)."""
    probe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker + "-probe"])
    try:
        for _ in range(100):
            if processes_with(marker + "-probe"):
                break
            time.sleep(0.02)
        assert processes_with(marker + "-probe"), "the process scan cannot see processes: the check is blind"
    finally:
        probe.kill()
        probe.wait()
    for _ in range(25):  # death is immediate in practice; allow the kernel a moment
        left = [p for p in processes_with(marker) if p != probe.pid]
        if not left:
            return
        time.sleep(0.02)
    raise AssertionError(f"processes outlived the run: {left}")


@attack
def attack_env_secret(ctx: Context) -> None:
    """A secret in the caller's environment is invisible: os.environ, and every /proc/*/environ."""
    secret = "sk-fake-" + secrets.token_hex(12)
    old = os.environ.get("CURATE_FAKE_API_KEY")
    os.environ["CURATE_FAKE_API_KEY"] = secret
    try:
        result = ctx.run(r"""
import os
print(dict(os.environ))
for pid in os.listdir("/proc"):
    if pid.isdigit() or pid == "self":
        try:
            print(pid, open(f"/proc/{pid}/environ", "rb").read())
        except OSError as e:
            print(pid, e)
print("ATTACK-RAN")
""")
    finally:
        if old is None:
            os.environ.pop("CURATE_FAKE_API_KEY")
        else:
            os.environ["CURATE_FAKE_API_KEY"] = old
    _ran(result)
    assert secret not in result.stdout + result.stderr
    assert "CURATE_FAKE_API_KEY" not in result.stdout


@attack
def attack_read_host_files(ctx: Context) -> None:
    """Host files are not readable: a world-readable secret, this repository, /root, /home."""
    secret_path = os.path.join(ctx.tmp, "secret.txt")
    secret = "secret-" + secrets.token_hex(12)
    with open(secret_path, "w") as f:
        f.write(secret)
    os.chmod(secret_path, 0o644)
    this_file = os.path.abspath(__file__)
    with open(this_file, "rb") as f:
        this_hash = hashlib.sha256(f.read()).hexdigest()
    result = ctx.run(f"""
import hashlib, json, os
for path in [{secret_path!r}, {this_file!r}, "/etc/passwd", "/etc/shadow", "/etc/hostname"]:
    try:
        data = open(path, "rb").read()
        print("READ", path, data[:200], hashlib.sha256(data).hexdigest())
    except OSError as e:
        print("NO", path, type(e).__name__)
for folder in [{ctx.tmp!r}, {os.path.dirname(this_file)!r}, "/root", "/home", "/work", "/var", "/opt"]:
    try:
        print("LIST", folder, json.dumps(os.listdir(folder)))
    except OSError as e:
        print("NOLIST", folder, type(e).__name__)
print("ATTACK-RAN")
""")
    _ran(result)
    out = result.stdout
    assert secret not in out, "a host file was read"
    assert this_hash not in out, "the repository was read"
    lines = out.splitlines()
    read = {line.split()[1] for line in lines if line.startswith("READ ")}
    listed = {line.split()[1]: json.loads(line.split(" ", 2)[2]) for line in lines if line.startswith("LIST ")}
    assert not read & {secret_path, this_file, "/etc/passwd", "/etc/shadow"}, out
    assert ctx.tmp not in listed and os.path.dirname(this_file) not in listed, out
    # /root may show only the way down to the interpreter (a pyenv Python lives there)
    allowed = {p.split("/")[2] for p in _interpreter_roots() if p.startswith("/root/")}
    assert set(listed.get("/root", [])) <= allowed, f"/root shows {listed['/root']}"


def _interpreter_roots() -> tuple[str, ...]:
    from curate_sandbox._interpreter import describe

    return describe().roots


@attack
def attack_write_outside(ctx: Context) -> None:
    """Writes land nowhere on the host: not a world-writable folder, the repository, the
    interpreter, /usr, or the host's /tmp and /dev/shm."""
    repo_dir = os.path.dirname(os.path.abspath(__file__))
    targets = [os.path.join(ctx.tmp, "pwned"), os.path.join(repo_dir, f"pwned-{ctx.marker}"),
               os.path.join(sys.prefix, f"pwned-{ctx.marker}"), f"/usr/pwned-{ctx.marker}",
               f"/tmp/pwned-{ctx.marker}", f"/dev/shm/pwned-{ctx.marker}", f"/pwned-{ctx.marker}",
               f"/etc/pwned-{ctx.marker}"]
    result = ctx.run(f"""
import os
for path in {targets!r}:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("pwned")
        print("WROTE", path)
    except OSError as e:
        print("NO", path, type(e).__name__)
print("ATTACK-RAN")
""")
    _ran(result)
    for path in targets:
        assert not os.path.exists(path), f"the sandbox wrote {path} on the host"
    # the private /tmp is writable (it is the working directory), and private
    assert f"WROTE /tmp/pwned-{ctx.marker}" in result.stdout


@attack
def attack_daemon(ctx: Context) -> None:
    """A double-forked, session-leading process that ignores SIGTERM/SIGHUP dies with the run."""
    result = ctx.run(f"""
import os, signal, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.closerange(0, 3)
        os.execv(sys.executable, [sys.executable, "-S", "-c", "import time\\nwhile True: time.sleep(1)", {ctx.marker!r}])
    os._exit(0)
os.wait()
import time; time.sleep(0.3)  # the daemon has exec'd by now
print("ATTACK-RAN")
""")
    _ran(result)
    _no_leftovers(ctx.marker)


@attack
def attack_network(ctx: Context) -> None:
    """No network: the host's TCP/UDP listeners on 127.0.0.1 and its abstract unix sockets get
    nothing; the sandbox has no interface but its own loopback."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    abstract = "\0" + ctx.marker
    unix.bind(abstract)
    unix.listen(8)
    try:
        result = ctx.run(f"""
import socket
print("IFACES", [name for _, name in socket.if_nameindex()])
for what, make in [
    ("tcp", lambda: socket.create_connection(("127.0.0.1", {tcp.getsockname()[1]}), timeout=1)),
    ("internet", lambda: socket.create_connection(("1.1.1.1", 80), timeout=1)),
    ("unix", lambda: (lambda s: (s.connect({abstract!r}), s))(socket.socket(socket.AF_UNIX))),
]:
    try:
        make()
        print("CONNECTED", what)
    except OSError as e:
        print("NO", what, type(e).__name__)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", {udp.getsockname()[1]}))
except OSError as e:
    print("NO udp", e)
print("ATTACK-RAN")
""", timeout_s=15)
        _ran(result)
        assert "IFACES ['lo']" in result.stdout, result.stdout
        for sock in (tcp, unix):
            sock.settimeout(0.3)
            with contextlib.suppress(socket.timeout, BlockingIOError):
                conn, _ = sock.accept()
                conn.close()
                raise AssertionError(f"a host listener got a connection: {sock}")
        udp.settimeout(0.3)
        with contextlib.suppress(socket.timeout, BlockingIOError):
            data = udp.recv(100)
            raise AssertionError(f"the host's UDP socket received {data!r}")
    finally:
        for sock in (tcp, udp, unix):
            sock.close()


def _spawn_probe(stop: threading.Event, failures: list[str]) -> None:
    """Keep starting small processes on the host while an attack runs: a resource the attack
    exhausted would make them fail."""
    while not stop.is_set():
        try:
            subprocess.run(["true"], check=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            failures.append(repr(exc))
        time.sleep(0.05)


@attack
def attack_fork_bomb(ctx: Context) -> None:
    """A fork bomb stays inside: the host keeps starting processes meanwhile, the run ends at its
    timeout, and no bomb process survives it."""
    stop, failures = threading.Event(), []
    watcher = threading.Thread(target=_spawn_probe, args=(stop, failures))
    watcher.start()
    try:
        started = time.monotonic()
        result = ctx.run(f"""
import os, sys
print("ATTACK-RAN", flush=True)
os.execv(sys.executable, [sys.executable, "-S", "-c", '''
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
''', {ctx.marker!r}])
""", timeout_s=2)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        watcher.join()
    _ran(result)
    assert result.timed_out and elapsed < 8, (result, elapsed)
    assert not failures, f"the host could not start processes during the bomb: {failures[:3]}"
    _no_leftovers(ctx.marker)


@attack
def attack_process_limit(ctx: Context) -> None:
    """The number of processes is capped: forking sleepers stops well short of 200."""
    result = ctx.run("""
import os, time
n = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
    except OSError:
        break
print("FORKED", n)
print("ATTACK-RAN")
""", max_processes=16)
    _ran(result)
    forked = int(result.stdout.split("FORKED ")[1].split()[0])
    assert forked < 16, f"{forked} processes started under max_processes=16"


@attack
def attack_memory_bomb(ctx: Context) -> None:
    """Allocating (and touching) without end stops at the memory limit: the run's largest
    resident size, from the kernel, stays under it."""
    result = ctx.run("""
print("ATTACK-RAN", flush=True)
hog = []
try:
    while True:
        hog.append(b"x" * (16 * 1024 * 1024))
except MemoryError:
    hog = None
    # The kernel's own high-water mark of this process, as seen from inside.
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
    print("PEAK_KB", peak, flush=True)
    raise
""", memory_mb=128)
    _ran(result)
    assert result.exit_code not in (0, None) and not result.timed_out, result
    assert "MemoryError" in result.stderr or result.exit_code >= 128, result.stderr[-300:]
    # (result.max_rss_mb is an upper bound only: a child forked from a large caller starts with
    # the caller's resident pages, so it is not the figure to test here.)
    if "PEAK_KB " in result.stdout:
        peak_mb = int(result.stdout.split("PEAK_KB ")[1].split()[0]) / 1024
        assert 0 < peak_mb <= 128, f"resident size {peak_mb:.0f} MiB over the 128 MiB limit"
    else:  # killed before it could report: the limit stopped it
        assert result.exit_code >= 128, result


@attack
def attack_fill_disk(ctx: Context) -> None:
    """Filling the disk stops at the working directory's size; nothing reaches the host."""
    result = ctx.run(f"""
import os
total = 0
chunk = b"x" * (1024 * 1024)
for name in ["/tmp/fill-{ctx.marker}", "/tmp/more-{ctx.marker}", "/dev/shm/fill-{ctx.marker}", "/fill-{ctx.marker}"]:
    try:
        with open(name, "wb") as f:
            while True:
                f.write(chunk)
                f.flush()
                total += len(chunk)
    except OSError as e:
        print("STOPPED", name, e.errno)
print("TOTAL", total)
print("ATTACK-RAN")
""", disk_mb=8)
    _ran(result)
    total = int(result.stdout.split("TOTAL ")[1].split()[0])
    assert total <= 8 * 1024 * 1024, f"wrote {total} bytes with disk_mb=8"
    for path in (f"/tmp/fill-{ctx.marker}", f"/tmp/more-{ctx.marker}", f"/dev/shm/fill-{ctx.marker}"):
        assert not os.path.exists(path)


@attack
def attack_flood_output(ctx: Context) -> None:
    """Printing without end is cut at the output limit, at once (not at the timeout), on both
    streams; the host keeps only the limit."""
    for stream in ("stdout", "stderr"):
        started = time.monotonic()
        result = ctx.run(f"""
import sys
sys.{stream}.write("ATTACK-RAN\\n")
while True:
    sys.{stream}.write("x" * 65536)
""", timeout_s=20, max_output_bytes=256 * 1024)
        elapsed = time.monotonic() - started
        text = getattr(result, stream)
        assert text.startswith("ATTACK-RAN"), result
        assert getattr(result, f"{stream}_truncated") and not result.timed_out, result
        assert len(text.encode()) <= 256 * 1024
        assert elapsed < 10, f"a flood on {stream} ran {elapsed:.1f} s before being stopped"


@attack
def attack_kill_parent(ctx: Context) -> None:
    """The program cannot kill its caller or another process of the sandbox's user: the caller
    gets its result, a bystander of the same uid lives on."""
    bystander_cmd = ["sleep", "60"]
    if os.geteuid() == 0:  # run it as the user the sandbox drops to, so only isolation protects it
        from curate_sandbox._linux import nobody

        uid, gid = nobody()
        bystander = subprocess.Popen(bystander_cmd, user=uid, group=gid, extra_groups=[], cwd="/")
    else:
        bystander = subprocess.Popen(bystander_cmd)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["curate_sandbox"].__file__)))
    code = f"""
import os, signal
print("ATTACK-RAN", flush=True)
for target in [os.getppid(), {bystander.pid}, {os.getpid()}, 1]:
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as e:
        print("NO", target, e)
os.kill(-1, signal.SIGKILL)
"""
    caller = (f"import json, sys; sys.path.insert(0, {pkg!r}); from curate_sandbox import run_python\n"
              f"r = run_python({code!r}, timeout_s=10)\n"
              "print(json.dumps({'stdout': r.stdout, 'exit_code': r.exit_code}))")
    try:
        done = subprocess.run([sys.executable, "-I", "-c", caller], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"the caller died: {done.returncode} {done.stderr[-500:]}"
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert "ATTACK-RAN" in result["stdout"], result
        assert bystander.poll() is None, "a process of the sandbox's user was killed"
    finally:
        bystander.kill()
        bystander.wait()


@attack
def attack_infinite_loop(ctx: Context) -> None:
    """A busy loop, and a sleeper that ignores SIGTERM, end at the timeout with nothing left."""
    bodies = ("while True: pass",
              "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)")
    outcomes: list = [None, None]

    def run(k: int) -> None:  # both at once: the test takes one timeout, not two
        started = time.monotonic()
        result = ctx.run(f"""
import os, sys
print("ATTACK-RAN", flush=True)
os.execv(sys.executable, [sys.executable, "-S", "-c", {bodies[k]!r}, {ctx.marker!r}])
""", timeout_s=1)
        outcomes[k] = (result, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result, elapsed in outcomes:
        _ran(result)
        assert result.timed_out and result.exit_code is None, result
        assert elapsed < 5, f"a 1 s timeout took {elapsed:.1f} s"
    _no_leftovers(ctx.marker)


@attack
def attack_host_proc(ctx: Context) -> None:
    """/proc shows the sandbox's own processes only: no host process, not its command line."""
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", ctx.marker])
    try:
        result = ctx.run(f"""
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("PIDS", len(pids))
found = []
for p in pids:
    try:
        if {ctx.marker!r}.encode() in open(f"/proc/{{p}}/cmdline", "rb").read():
            found.append(p)
    except OSError:
        pass
print("FOUND", found)
for path in ["/proc/{host.pid}/cmdline", "/proc/{host.pid}/environ", "/proc/{os.getpid()}/environ"]:
    try:
        open(path, "rb").read()
        print("READ", path)
    except OSError as e:
        print("NO", path, type(e).__name__)
print("ATTACK-RAN")
""")
        _ran(result)
        assert processes_with(ctx.marker), "the host process to look for is not running"
        assert "FOUND []" in result.stdout, result.stdout
        assert int(result.stdout.split("PIDS ")[1].split()[0]) <= 4, result.stdout
        assert f"READ /proc/{host.pid}/cmdline" not in result.stdout
        assert f"READ /proc/{os.getpid()}/environ" not in result.stdout
    finally:
        host.kill()
        host.wait()


@attack
def attack_privileges(ctx: Context) -> None:
    """No capabilities, no new privileges (setuid programs do not elevate), no nested user
    namespace to gain them in."""
    result = ctx.run("""
import ctypes, os
status = open("/proc/self/status").read()
print([l for l in status.splitlines() if l.startswith(("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"))])
libc = ctypes.CDLL(None, use_errno=True)
print("UNSHARE", libc.unshare(0x10000000))  # CLONE_NEWUSER
print("UID", os.getuid(), os.geteuid())
print("ATTACK-RAN")
""")
    _ran(result)
    out = result.stdout
    assert "'CapEff:\\t0000000000000000'" in out and "'CapBnd:\\t0000000000000000'" in out, out
    assert "'NoNewPrivs:\\t1'" in out, out
    assert "UNSHARE -1" in out, "a nested user namespace could be made"
    assert "UID 0 " not in out


def run_all(names: list[str] | None = None) -> dict[str, str | None]:
    """Run attacks (all by default); name -> None when the harm was prevented, else why not."""
    outcome: dict[str, str | None] = {}
    for name in names or list(ATTACKS):
        ctx = Context()
        try:
            ATTACKS[name](ctx)
            outcome[name] = None
        except BaseException as exc:  # noqa: BLE001 -- report every attack
            outcome[name] = f"{type(exc).__name__}: {exc}"
        finally:
            ctx.close()
    return outcome


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pkg", required=True, help="folder holding the curate_sandbox package")
    parser.add_argument("names", nargs="*", help="attacks to run (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.pkg))
    import curate_sandbox  # noqa: F401 -- fails early when --pkg is wrong

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print(json.dumps({"uid": os.geteuid(), "results": run_all(args.names)}))

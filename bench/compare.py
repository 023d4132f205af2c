"""Run the benchmark scenarios against each broker and write the report.

Called by bench/compare.sh after it has built bench/out/gridmq and
bench/out/mochi. For each scenario each broker is started afresh on a free
loopback port, measured while one `gridmq bench` run drives it, and stopped, so
no run inherits another's queues or memory. The broker's CPU time comes from
/proc/PID/stat (utime + stime) read just before and just after the run, and its
memory from VmRSS in /proc/PID/status.

Raw `gridmq bench --json` output and broker logs are kept in the output
directory; docs/benchmarks.md and docs/benchmarks.png are written from them.
Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

# Every broker runs with no limit on queued messages, so that none is set to
# drop. gridmq still flow-controls connected subscribers (docs/design.md).
BROKERS = ["mosquitto", "mochi", "gridmq"]
TITLES = {"mosquitto": "Mosquitto", "mochi": "Mochi", "gridmq": "gridmq"}
MESSAGE_ONLY = set()  # brokers left out of the connection scenarios

PAYLOAD = 64
DURATION = "8s"  # throughput runs; 6 of them per broker
DRAIN = "2s"  # how long the subscribers wait for stragglers after the publishers stop
IDLE_CONNECTIONS = 10000
IDLE_CONNECT_RATE = 2000
IDLE_HOLD = "10s"
IDLE_SAMPLE_AFTER = 3.0  # seconds into the hold at which the broker's RSS is taken
RATE_CONNECTIONS = 2000
DURABLE_FANIN = "fanin 8→1 QoS 1, durable"

CLK_TCK = os.sysconf("SC_CLK_TCK")


def throughput(name, scenario, qos, publishers, subscribers):
    return {
        "name": name,
        "kind": "throughput",
        "args": [scenario, "--qos", str(qos), "--payload", str(PAYLOAD),
                 "--publishers", str(publishers), "--subscribers", str(subscribers),
                 "--duration", DURATION, "--drain", DRAIN],
    }


def durable(sc):
    """sc with persistent subscribers, against brokers that keep state in a
    data dir (a fresh, empty one for every run). Mochi is left out: its
    persistence is an optional storage hook, and it acknowledges a QoS 1
    PUBLISH before routing it, so no hook makes the acknowledgement wait for
    the disk (decision 0002)."""
    sc["args"].append("--persistent")
    sc["durable"] = True
    sc["brokers"] = ["mosquitto", "gridmq"]
    return sc


SCENARIOS = [
    throughput("fanin 8→1 QoS 0", "fanin", 0, 8, 1),
    throughput("fanin 8→1 QoS 1", "fanin", 1, 8, 1),
    durable(throughput(DURABLE_FANIN, "fanin", 1, 8, 1)),
    throughput("fanout 1→8 QoS 0", "fanout", 0, 1, 8),
    throughput("fanout 1→8 QoS 1", "fanout", 1, 1, 8),
    throughput("p2p 8 pairs QoS 0", "p2p", 0, 8, 8),
    throughput("p2p 8 pairs QoS 1", "p2p", 1, 8, 8),
    {
        "name": "p2p 8 pairs QoS 1, 8×1000 msg/s",
        "kind": "latency",
        "args": ["p2p", "--qos", "1", "--payload", str(PAYLOAD),
                 "--publishers", "8", "--subscribers", "8", "--rate", "1000",
                 "--duration", DURATION, "--drain", DRAIN],
    },
    {
        "name": "idle connections",
        "kind": "idle",
        "args": ["conn", "--connections", str(IDLE_CONNECTIONS),
                 "--connect-rate", str(IDLE_CONNECT_RATE), "--duration", IDLE_HOLD],
    },
    {
        "name": "connection rate",
        "kind": "connrate",
        "args": ["conn", "--connections", str(RATE_CONNECTIONS),
                 "--connect-rate", "0", "--duration", "1s"],
    },
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_conf(port, data_dir=None):
    # With a data dir Mosquitto keeps its state in memory and saves it there
    # every autosave_interval (1800 s by default) and at exit.
    persistence = (f"persistence true\npersistence_location {data_dir.rstrip('/')}/\n" if data_dir else
                   "persistence false\n")
    return (f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            + persistence +
            "max_queued_messages 0\n"
            "max_connections -1\n"
            # Mosquitto logs every connect and disconnect by default; gridmq
            # and Mochi log neither.
            "log_type error\n"
            "log_type warning\n")


def broker_command(broker, port, out, data_dir=None):
    """The argv that starts broker on 127.0.0.1:port, with the same settings
    for all three: anonymous clients, no queue limit, and no persistence
    unless data_dir is given."""
    if broker == "mosquitto":
        conf = os.path.join(out, mosquitto_conf_name(data_dir))
        with open(conf, "w") as f:
            f.write(mosquitto_conf(port, data_dir))
        # Mosquitto takes its connection limit from RLIMIT_NOFILE.
        return ["sh", "-c", f'ulimit -n "$(ulimit -Hn)"; exec mosquitto -c {conf}']
    if broker == "mochi":
        if data_dir:
            raise RuntimeError("the Mochi runner keeps no data dir")
        return [os.path.join(out, "mochi"), "--listen", f"127.0.0.1:{port}"]
    return [os.path.join(out, "gridmq"), "serve", "--listen", f"127.0.0.1:{port}", "--allow-anonymous",
            "--max-queued-messages", "0", "--sys-interval", "0"] + gridmq_data_args(data_dir)


def mosquitto_conf_name(data_dir):
    return "mosquitto-durable.conf" if data_dir else "mosquitto.conf"


def gridmq_data_args(data_dir):
    # sync is the default; it is named so that the command says what was
    # measured. Without a data dir gridmq keeps its state in memory, as
    # Mosquitto does with persistence false.
    return ["--data-dir", data_dir, "--durability", "sync"] if data_dir else ["--persistence=false"]


def display_command(broker, data_dir=None):
    if broker == "mosquitto":
        return f"sh -c 'ulimit -n $(ulimit -Hn); exec mosquitto -c bench/out/{mosquitto_conf_name(data_dir)}'"
    if broker == "mochi":
        return "bench/out/mochi --listen 127.0.0.1:PORT"
    return " ".join(["bench/out/gridmq serve --listen 127.0.0.1:PORT --allow-anonymous --max-queued-messages 0 "
                     "--sys-interval 0"] + gridmq_data_args(data_dir))


def fresh_data_dir(out, broker, scenario):
    """An empty directory for one run of a durable scenario, under
    OUT/data/, so that no run finds state another left."""
    path = os.path.abspath(os.path.join(out, "data", f"{broker}-{slug(scenario['name'])}"))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    if broker == "mosquitto" and os.getuid() == 0:
        # Started as root, Mosquitto drops to its own user before it saves.
        try:
            user = pwd.getpwnam("mosquitto")
            os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    return path


def brokers_of(sc):
    return sc.get("brokers", BROKERS)


class Broker:
    def __init__(self, name, out, log, data_dir=None):
        self.name = name
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(broker_command(name, self.port, out, data_dir),
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        # sh execs mosquitto, so the process we started is the broker itself.
        self.pid = self.proc.pid
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within 10 s")

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            # Fields 14 and 15 (utime, stime) counted from 1; the command name
            # in field 2 may hold spaces, so count from its closing parenthesis.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def open_sockets(self):
        n = 0
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_bench(gridmq, broker, scenario, out):
    """One `gridmq bench` run against broker; returns its JSON object with the
    broker's measurements added under "broker"."""
    argv = [gridmq, "bench"] + scenario["args"] + ["--addr", f"127.0.0.1:{broker.port}", "--json"]
    stem = f"{broker.name}-{slug(scenario['name'])}"
    rss_before = broker.rss_bytes()
    cpu_before = broker.cpu_seconds()
    samples = []  # (seconds since start, open sockets, RSS) while the run lasts
    with open(os.path.join(out, stem + ".stderr"), "w") as errf:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, text=True)
        if scenario["kind"] == "idle":
            while proc.poll() is None:
                try:
                    samples.append((time.monotonic() - start, broker.open_sockets(), broker.rss_bytes()))
                except (OSError, RuntimeError):
                    pass
                time.sleep(0.25)
        try:
            stdout, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
            raise RuntimeError(f"gridmq bench did not finish within 180 s ({' '.join(argv)})")
    cpu_after = broker.cpu_seconds()
    rss_after = broker.rss_bytes()
    with open(os.path.join(out, stem + ".json"), "w") as f:
        f.write(stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"gridmq bench exited with status {proc.returncode}; see {stem}.stderr")
    with open(os.path.join(out, stem + ".stderr")) as f:
        bench_errors = [line.strip() for line in f if line.strip()]
    for line in bench_errors:
        print(f"compare:   {broker.name}: {line}", file=sys.stderr, flush=True)
    if scenario.get("durable") and any("persistent session" in line for line in bench_errors):
        # The row would not measure what it is named for.
        raise RuntimeError("persistent session not kept or not ended; see " + stem + ".stderr")
    result = parse_json(stdout)
    result["broker"] = {
        "cpu_s": cpu_after - cpu_before,
        "rss_before": rss_before,
        "rss_after": rss_after,
    }
    if scenario["kind"] == "idle":
        result["broker"]["rss_held"] = held_rss(samples, IDLE_CONNECTIONS)
        result["broker"]["samples"] = samples
    return result


def held_rss(samples, connections):
    """The broker's RSS IDLE_SAMPLE_AFTER seconds after it first held all the
    connections (counted as its open sockets), or the last sample taken while
    it still held them if the hold was shorter."""
    full = [s for s in samples if s[1] >= connections]
    if not full:
        return None
    for t, _, rss in full:
        if t >= full[0][0] + IDLE_SAMPLE_AFTER:
            return rss
    return full[-1][2]


def parse_json(text):
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        # Tolerate a line of progress before the object.
        return json.loads(text[text.index("{"):])


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


# ---- the report ----------------------------------------------------------


def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {"cpus": os.cpu_count(), "model": model, "kernel": platform.release(), "memory": mem,
            "os": os_release()}


def loadavg():
    """The 1-minute load average: other work on the machine shows here."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def versions(out, commit):
    mosquitto = ""
    # mosquitto -h prints its usage, version first, and exits with status 3.
    text = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
    if text:
        mosquitto = text.splitlines()[0]
    mochi = sh("go", "-C", "bench/mochi", "list", "-m", "-f", "{{.Version}}", "github.com/mochi-mqtt/server/v2")
    return {"mosquitto": mosquitto, "mochi": mochi, "gridmq": commit,
            "gridmq_version": sh(os.path.join(out, "gridmq"), "version"),
            "go": sh("go", "env", "GOVERSION")}


def fmt_rate(v):
    return f"{v:,.0f}"


def fmt_ratio(v, base):
    if v is None or not base:
        return "–"
    return f"{v / base:.2f}×"


def fmt_mib(b):
    return f"{b / (1 << 20):,.1f} MiB"


def fmt_loss(r):
    lost, expected = r.get("lost", 0), r.get("expected", 0)
    if not lost:
        return "0"
    pct = 100 * lost / expected if expected else 0
    return f"{lost:,} ({pct:.1f}%){' †' if still_delivering(r) else ''}"


def still_delivering(r):
    """Whether messages may still have been arriving when the run ended, so
    that some of the loss may be a backlog cut off rather than messages
    dropped.

    gridmq bench waits for deliveries until DRAIN after the last publisher
    left its loop (at DURATION, or later if a publish blocked), and no less
    than until every publisher has had its acknowledgements (sent /
    sent_per_sec is that time). elapsed_s runs to the last delivery: if it
    reaches the earliest time the run could have ended, arrivals may have been
    cut off."""
    if not r.get("sent_per_sec"):
        return False
    publishing = r["sent"] / r["sent_per_sec"]
    earliest_end = max(publishing, seconds(DURATION) + seconds(DRAIN))
    return r["elapsed_s"] >= earliest_end - 0.25


def seconds(duration):
    return float(duration.rstrip("s"))


def fmt_us(v):
    if v is None:
        return "–"
    if v >= 10000:
        return f"{v / 1000:,.0f} ms"
    if v >= 1000:
        return f"{v / 1000:.1f} ms"
    return f"{v:.0f} µs"


def cpu_per_message_us(r):
    delivered = r.get("delivered", 0)
    if not delivered:
        return None
    return r["broker"]["cpu_s"] / delivered * 1e6


def bytes_per_connection(r):
    held = r["broker"].get("rss_held")
    if held is None:
        return None
    return (held - r["broker"]["rss_before"]) / IDLE_CONNECTIONS


def report(results, meta, out, png_name):
    lines = []
    w = lines.append
    w("# Benchmarks: gridmq, Mosquitto and Mochi MQTT")
    w("")
    w(f"Measured {meta['date']} by `bench/compare.sh`, which took {meta['wall_s']:.0f} s. Re-run it on a fresh "
      "clone to reproduce these numbers on your machine; it installs what it needs from Debian and the Go "
      "module proxy. Why these peers, how the runs are kept fair, and how to read CPU per message: "
      "[decision 0002](decisions/0002-benchmark-peers.md). Each row is one run, and on a small machine "
      "shared by broker and load generator runs vary: read ratios near 1× as a tie.")
    w("")
    m = meta["machine"]
    w("| | |")
    w("|---|---|")
    w(f"| Machine | {m['cpus']} × {m['model']}, {m['memory']} |")
    w(f"| System | {m['os']}, Linux {m['kernel']} |")
    if meta.get("load"):
        w(f"| Load average | {meta['load'][0]:.2f} before the run, {meta['load'][1]:.2f} after "
          "(1-minute averages; the run itself keeps both cores busy) |")
    v = meta["versions"]
    w(f"| Mosquitto | {v['mosquitto']} (Debian package) |")
    w(f"| Mochi MQTT | github.com/mochi-mqtt/server/v2 {v['mochi']}, built with {v['go']} (bench/mochi) |")
    w(f"| gridmq | commit {v['gridmq']}, built with {v['go']} |")
    w(f"| Load generator | `gridmq bench` from the same build, on the same machine, one broker at a time |")
    w("")
    if png_name:
        w(f"![Delivered messages per second and broker CPU per message, by scenario]({png_name})")
        w("")
    w("## Throughput and latency")
    w("")
    w(f"{PAYLOAD}-byte payloads, MQTT 3.1.1. Every row but the last publishes as fast as the publishers can for "
      f"{DURATION}, then waits up to {DRAIN} for the last deliveries; the latency row paces each of 8 publishers "
      "at 1000 msg/s. *Delivered* is messages received by the subscribers per second, from the first publish "
      "to the last delivery; *sent* is messages the publishers sent per second while publishing (at QoS 1, "
      "sent and acknowledged by the broker, at most 100 unacknowledged per publisher). *Loss* counts messages "
      "sent but not delivered by the end of the run: a broker that accepts messages faster than it delivers "
      "them builds a backlog, which shows as sent above delivered, as loss, and as latency. *CPU* is the "
      "broker's user and system time divided by the messages it delivered; *RSS* is the broker's resident "
      "memory after the run. Ratios are to Mosquitto: above 1× is more throughput, or more CPU spent per "
      "message.")
    w("")
    w("Every broker runs with no limit on queued messages, so that none is set to drop. Where a subscriber "
      "falls behind, gridmq stops reading from the publishers feeding it once 1,000 messages wait (TCP "
      "backpressure; see Flow control and drops in [design.md](design.md)), so it loses nothing and its "
      "memory stays bounded; Mosquitto and Mochi queue without bound or drop.")
    w("")
    if any((b, DURABLE_FANIN) in results for b in BROKERS):
        w(f"*{DURABLE_FANIN}* is the QoS 1 fanin with its subscriber holding a persistent session "
          "(`gridmq bench --persistent`: Clean Session 0), so that every message is state the broker must keep "
          "until the subscriber acknowledges it, and with each broker keeping its state in a fresh, empty data "
          "dir. gridmq runs with `--data-dir DIR --durability sync`: it fsyncs before every acknowledgement, so a "
          "PUBACK means that what the message changed is on disk. Mosquitto runs with `persistence true` and "
          "`persistence_location DIR/`: it does not fsync before acknowledging, nor write anything to disk as a "
          "message passes; it keeps its state in memory and saves a snapshot of it every `autosave_interval` "
          "(1800 s by default, far longer than a run) and at exit, so a crash loses what it acknowledged since "
          "the last snapshot. The row compares each broker's persistence as an operator turns it on, not equal "
          "work: gridmq's numbers include the disk, Mosquitto's do not. Mochi is left out of it: its persistence "
          "is an optional storage hook, and it acknowledges a QoS 1 PUBLISH before routing it, so no hook makes "
          "an acknowledgement wait for the disk. After each run the load generator reconnects the subscriber, "
          "checks that the broker kept its session (Session Present), and ends it.")
        w("")
    w("| Scenario | Broker | Delivered msg/s | vs Mosquitto | Sent msg/s | Loss | Dup | p50 | p99 | CPU µs/msg | vs Mosquitto | RSS |")
    w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for sc in SCENARIOS:
        if sc["kind"] not in ("throughput", "latency"):
            continue
        base = results.get(("mosquitto", sc["name"]))
        base_rate = base["delivered_per_sec"] if base and "error" not in base else None
        base_cpu = cpu_per_message_us(base) if base and "error" not in base else None
        for b in BROKERS:
            r = results.get((b, sc["name"]))
            if r is None:
                continue
            if "error" in r:
                w(f"| {sc['name']} | {TITLES[b]} | failed: {r['error']} | | | | | | | | | |")
                continue
            lat = r.get("latency_us") or {}
            cpu = cpu_per_message_us(r)
            w(f"| {sc['name']} | {TITLES[b]} | {fmt_rate(r['delivered_per_sec'])} | "
              f"{fmt_ratio(r['delivered_per_sec'], base_rate)} | {fmt_rate(r['sent_per_sec'])} | "
              f"{fmt_loss(r)} | {r.get('duplicated', 0):,} | "
              f"{fmt_us(lat.get('p50'))} | {fmt_us(lat.get('p99'))} | "
              f"{'–' if cpu is None else f'{cpu:.1f}'} | {fmt_ratio(cpu, base_cpu)} | "
              f"{fmt_mib(r['broker']['rss_after'])} |")
    w("")
    w("† Messages were still arriving when the run ended, so some or all of this loss may be a backlog the "
      "broker would have delivered later rather than messages it dropped. Loss without † is messages dropped: "
      "the broker had stopped delivering before the run ended.")
    w("")
    w("## Connections")
    w("")
    what = ("each subscribes to one topic filter" if meta["idle_subscribe"] else
            "without subscribing (this `gridmq bench conn` has no `--subscribe`)")
    w(f"*Memory per idle connection*: {IDLE_CONNECTIONS:,} clients connect at {IDLE_CONNECT_RATE:,}/s, "
      f"{what}, and they stay connected for {IDLE_HOLD}. The broker's RSS is "
      f"read {IDLE_SAMPLE_AFTER:.0f} s after it first holds all of them (counted as its open sockets), less "
      f"its RSS before the run, divided by {IDLE_CONNECTIONS:,}. *Connection rate*: {RATE_CONNECTIONS:,} "
      "clients connect as fast as the load generator can; connections per second as `gridmq bench conn` "
      "reports them.")
    w("")
    w("| Broker | Bytes per idle connection | vs Mosquitto | RSS holding them | Connections/s | vs Mosquitto | Connect errors |")
    w("|---|--:|--:|--:|--:|--:|--:|")
    idle_base = results.get(("mosquitto", "idle connections"))
    rate_base = results.get(("mosquitto", "connection rate"))
    idle_base_v = bytes_per_connection(idle_base) if idle_base and "error" not in idle_base else None
    rate_base_v = rate_base["connect_per_sec"] if rate_base and "error" not in rate_base else None
    for b in BROKERS:
        if b in MESSAGE_ONLY:
            continue
        idle = results.get((b, "idle connections"))
        rate = results.get((b, "connection rate"))
        cells = [TITLES[b]]
        if idle is None or "error" in idle:
            cells += [f"failed: {idle['error']}" if idle else "–", "", ""]
        else:
            per = bytes_per_connection(idle)
            held = idle["broker"].get("rss_held")
            cells += ["not all held" if per is None else f"{per:,.0f}", fmt_ratio(per, idle_base_v),
                      "–" if held is None else fmt_mib(held)]
        if rate is None or "error" in rate:
            cells += [f"failed: {rate['error']}" if rate else "–", "", ""]
        else:
            errors = rate.get("connect_errors", 0) + (idle.get("connect_errors", 0) if idle and "error" not in idle else 0)
            cells += [fmt_rate(rate["connect_per_sec"]), fmt_ratio(rate["connect_per_sec"], rate_base_v), f"{errors:,}"]
        w("| " + " | ".join(cells) + " |")
    w("")
    w("## Commands")
    w("")
    w("Each broker is started afresh for every row, on a free loopback port (PORT below):")
    w("")
    w("```sh")
    for b in BROKERS:
        w(display_command(b))
    w("```")
    w("")
    w("with `bench/out/mosquitto.conf`:")
    w("")
    w("```")
    w(mosquitto_conf("PORT").rstrip())
    w("```")
    w("")
    for sc in SCENARIOS:
        if not sc.get("durable"):
            continue
        w(f"For *{sc['name']}*, with a fresh, empty data dir (DIR) for every run:")
        w("")
        w("```sh")
        for b in brokers_of(sc):
            w(display_command(b, "DIR"))
        w("```")
        w("")
        w(f"with `bench/out/{mosquitto_conf_name('DIR')}`:")
        w("")
        w("```")
        w(mosquitto_conf("PORT", "DIR").rstrip())
        w("```")
        w("")
    w("and driven by one of:")
    w("")
    w("```sh")
    for sc in SCENARIOS:
        w("bench/out/gridmq bench " + " ".join(sc["args"]) + " --addr 127.0.0.1:PORT --json")
    w("```")
    w("")
    w("Raw output, one JSON object per run with the broker's CPU seconds and RSS added, is in "
      "`bench/out/results.json` after a run; broker logs are beside it.")
    w("")
    return "\n".join(lines)


def chart(results, out, png):
    """Two clustered bar charts, drawn by gnuplot: delivered msg/s and CPU µs
    per message, for each throughput and latency scenario and broker."""
    # Rows no broker ran (a partial run, or results from before a row was
    # added) are left out rather than drawn empty.
    rows = [sc["name"] for sc in SCENARIOS if sc["kind"] in ("throughput", "latency")
            and any((b, sc["name"]) in results for b in BROKERS)]
    short = {sc["name"]: sc["name"].replace(" QoS", "\\nQoS").replace(", ", "\\n") for sc in SCENARIOS}

    def write(path, value):
        with open(path, "w") as f:
            f.write("# scenario " + " ".join(BROKERS) + "\n")
            for name in rows:
                cells = []
                for b in BROKERS:
                    r = results.get((b, name))
                    v = value(r) if r and "error" not in r else None
                    cells.append("?" if v is None else f"{v:.3f}")
                f.write(f"\"{short[name]}\" " + " ".join(cells) + "\n")

    if not any((b, name) in results and "error" not in results[(b, name)] for b in BROKERS for name in rows):
        print("compare: no message scenario ran; no chart", file=sys.stderr)
        return False
    rate_dat = os.path.join(out, "chart-rate.dat")
    cpu_dat = os.path.join(out, "chart-cpu.dat")
    write(rate_dat, lambda r: r["delivered_per_sec"] / 1000)
    write(cpu_dat, cpu_per_message_us)
    # A cluster of n bars with gap 1 is n + 1 bar widths wide, centred on the
    # cluster's x; bar i's centre, where its value label goes, is offset by
    # (i - (n - 1) / 2) / (n + 1).
    n = len(BROKERS)

    def plot(dat, fmt):
        bars = ", ".join(
            f'"{dat}" using {i + 2}{":xtic(1)" if i == 0 else ""} title "{TITLES[b]}"'
            for i, b in enumerate(BROKERS))
        labels = ", ".join(
            f'"{dat}" using ($0{(i - (n - 1) / 2) / (n + 1):+.3f}):{i + 2}:(sprintf("{fmt}", ${i + 2})) '
            'with labels offset 0,0.7 font ",8" notitle'
            for i in range(n))
        return f"plot {bars}, {labels}"

    script = f"""
set terminal pngcairo size 1600,1100 font "DejaVu Sans,11"
set output "{png}"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top vertical
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set xtics nomirror scale 0
set bmargin 5
set linetype 1 lc rgb "#3b6ea8"
set linetype 2 lc rgb "#d08c2c"
set linetype 3 lc rgb "#3f9a5a"
set linetype 4 lc rgb "#9fd4a8"
set multiplot layout 2,1 title "{PAYLOAD}-byte messages; broker and load generator sharing the same cores"
set title "Delivered messages per second, thousands (higher is better)"
{plot(rate_dat, "%.0f")}
set title "Broker CPU per delivered message, µs (lower is better)"
{plot(cpu_dat, "%.1f")}
unset multiplot
"""
    with open(os.path.join(out, "chart.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", os.path.join(out, "chart.gp")], check=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/out", help="directory holding the binaries and the raw results")
    ap.add_argument("--docs", default="docs", help="directory for benchmarks.md and benchmarks.png")
    ap.add_argument("--started", type=float, default=time.time(), help="Unix time the whole run began")
    ap.add_argument("--commit", default="unknown", help="the gridmq commit built, as compare.sh describes it")
    ap.add_argument("--only", default="", help="comma-separated scenario names or brokers, for trying one out")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report and chart from OUT/results.json without measuring")
    args = ap.parse_args()

    if args.report_only:
        with open(os.path.join(args.out, "results.json")) as f:
            saved = json.load(f)
        meta = saved["meta"]
        results = {(run["broker"], run["scenario"]): run["result"] for run in saved["runs"]}
        if meta.get("idle_subscribe"):
            subscribe_idle()
    else:
        results, meta = measure(args)
        if args.only:
            # A partial run must not replace the published report.
            args.docs = args.out
    meta.setdefault("idle_subscribe", False)
    drawn = chart(results, args.out, os.path.join(args.docs, "benchmarks.png"))
    with open(os.path.join(args.docs, "benchmarks.md"), "w") as f:
        f.write(report(results, meta, args.out, "benchmarks.png" if drawn else None))


def subscribe_idle():
    for sc in SCENARIOS:
        if sc["kind"] == "idle":
            sc["args"].append("--subscribe")


def measure(args):
    """Runs every scenario against every broker, saves the raw results in
    OUT/results.json and returns them with the run's metadata."""
    only = [s for s in args.only.split(",") if s]
    # A term that is a scenario's whole name selects that scenario alone (the
    # QoS 1 fanin without its durable variant); any other term selects the
    # scenarios whose names contain it.
    names = {sc["name"] for sc in SCENARIOS}
    exact = [o for o in only if o in names]
    partial = [o for o in only if o not in names and o not in BROKERS]
    gridmq = os.path.join(args.out, "gridmq")
    load_before = loadavg()
    # Idle connections each hold a subscription when the load generator can
    # make them.
    usage = subprocess.run([gridmq, "bench", "--help"], capture_output=True, text=True)
    idle_subscribe = bool(re.search(r"^\s*--subscribe\b", usage.stdout + usage.stderr, re.M))
    if idle_subscribe:
        subscribe_idle()
    results = {}
    raw = []
    for sc in SCENARIOS:
        if (exact or partial) and sc["name"] not in exact and not any(o in sc["name"] for o in partial):
            continue
        for b in brokers_of(sc):
            if only and any(o in BROKERS for o in only) and b not in only:
                continue
            if b in MESSAGE_ONLY and sc["kind"] in ("idle", "connrate"):
                continue
            print(f"compare: {sc['name']}: {b}", file=sys.stderr, flush=True)
            with open(os.path.join(args.out, f"{b}.log"), "a") as log:
                log.write(f"\n==== {sc['name']}\n")
                log.flush()
                broker = None
                try:
                    data_dir = fresh_data_dir(args.out, b, sc) if sc.get("durable") else None
                    broker = Broker(b, args.out, log, data_dir)
                    r = run_bench(gridmq, broker, sc, args.out)
                except (RuntimeError, OSError, ValueError) as e:
                    print(f"compare: {sc['name']}: {b}: {e}", file=sys.stderr, flush=True)
                    r = {"error": str(e).split(";")[0]}
                finally:
                    if broker:
                        broker.stop()
            results[(b, sc["name"])] = r
            raw.append({"broker": b, "scenario": sc["name"], "result": r})
            summarize(b, sc, r)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(args.out, args.commit),
        "wall_s": time.time() - args.started,
        "idle_subscribe": idle_subscribe,
        "load": [load_before, loadavg()],
    }
    # A partial run keeps its results apart, so that --report-only still
    # reports the last full run.
    name = "results-only.json" if only else "results.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump({"meta": meta, "runs": raw}, f, indent=1)
    return results, meta


def summarize(broker, sc, r):
    if "error" in r:
        return
    if sc["kind"] == "idle":
        per = bytes_per_connection(r)
        print(f"compare:   {broker}: {'?' if per is None else f'{per:,.0f}'} bytes per idle connection",
              file=sys.stderr)
    elif sc["kind"] == "connrate":
        print(f"compare:   {broker}: {r['connect_per_sec']:,.0f} connections/s", file=sys.stderr)
    else:
        cpu = cpu_per_message_us(r)
        print(f"compare:   {broker}: {r['delivered_per_sec']:,.0f} msg/s delivered, lost {r.get('lost', 0):,}, "
              f"CPU {'?' if cpu is None else f'{cpu:.1f}'} µs/msg", file=sys.stderr)


if __name__ == "__main__":
    main()

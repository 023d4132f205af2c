#!/usr/bin/env bash
# startup.sh: how long a broker takes to start with a million messages
# queued for an offline persistent session, gridmq and Mosquitto side by side.
#
#   bench/startup.sh [MESSAGES]      default 1000000; as root, or with sudo
#                                    available if mosquitto is missing
#
# For each broker: start it on an empty data dir, subscribe a persistent
# session (mosquitto_sub -c) at QoS 1 and leave, publish MESSAGES QoS 1
# messages of 64 bytes to it with `gridmq bench pub`, stop the broker, start
# it again and time it until it accepts connections; then drain the queue
# with mosquitto_sub and count what comes back.
#
# gridmq is stopped with kill -9: everything it acknowledged is already in
# its data dir. Mosquitto (persistence true) keeps its state in memory and
# writes it at exit, so it is stopped with SIGTERM and its exit timed too; a
# kill -9 would lose the whole queue. Results and logs stay in bench/out/.
set -eu

messages=${1:-1000000}
publishers=8
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
mkdir -p "$out"
PATH=$PATH:/usr/sbin
export PATH

if ! command -v mosquitto >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients
fi
go build -o "$out/gridmq" ./cmd/gridmq

port=$((22000 + $(od -An -N2 -tu2 /dev/urandom) % 1000))
now_ms() { date +%s%3N; }

# wait_mqtt PORT: until a broker there answers CONNECT (at most 10 min). A
# listening socket alone proves nothing: the kernel accepts connections
# before the broker has loaded its state.
wait_mqtt() {
	i=0
	until mosquitto_sub -h 127.0.0.1 -p "$1" -i startup-probe -t startup/probe -E 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 60000 ] || { echo "startup: no broker answers on $1" >&2; exit 1; }
		sleep 0.01
	done
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# fill NAME PORT: a persistent session that subscribes and leaves, then the messages.
fill() {
	mosquitto_sub -h 127.0.0.1 -p "$2" -c -i "startup-$1" -q 1 -t 'startup/#' -E
	per=$(((messages + publishers - 1) / publishers))
	t0=$(now_ms)
	"$out/gridmq" bench pub --addr "127.0.0.1:$2" --qos 1 --publishers "$publishers" --count "$per" \
		--topic-prefix startup --json >"$out/startup-$1-pub.json"
	echo "$1: queued $((per * publishers)) messages in $(($(now_ms) - t0)) ms"
}

# drain NAME PORT: the persistent session comes back for its messages.
drain() {
	t0=$(now_ms)
	got=$(mosquitto_sub -h 127.0.0.1 -p "$2" -c -i "startup-$1" -q 1 -t 'startup/#' -C "$((per * publishers))" -W 600 -F . | wc -l)
	echo "$1: drained $got messages in $(($(now_ms) - t0)) ms"
	mosquitto_sub -h 127.0.0.1 -p "$2" -i "startup-$1" -t 'startup/#' -E # Clean Session 1 ends the session
}

# gridmq
data="$out/startup-gridmq-data"
rm -rf "$data"
"$out/gridmq" serve --listen "127.0.0.1:$port" --allow-anonymous --max-queued-messages 0 --data-dir "$data" \
	>"$out/startup-gridmq.log" 2>&1 &
pid=$!
wait_mqtt "$port"
fill gridmq "$port"
echo "gridmq: before the kill: RSS $(rss_kib $pid) KiB, data dir $(du -sk "$data" | cut -f1) KiB"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
t0=$(now_ms)
"$out/gridmq" serve --listen "127.0.0.1:$port" --allow-anonymous --max-queued-messages 0 --data-dir "$data" \
	>"$out/startup-gridmq.log" 2>&1 &
pid=$!
wait_mqtt "$port"
echo "gridmq: restarted after kill -9 and answering CONNECT in $(($(now_ms) - t0)) ms, RSS $(rss_kib $pid) KiB"
sleep 5
echo "gridmq: RSS 5 s later $(rss_kib $pid) KiB"
grep 'data dir recovered' "$out/startup-gridmq.log" | sed 's/^/  /'
drain gridmq "$port"
kill "$pid"
wait "$pid" 2>/dev/null || true

# Mosquitto
port=$((port + 1))
data="$out/startup-mosquitto-data"
rm -rf "$data"
mkdir -p "$data"
[ "$(id -u)" -ne 0 ] || chown mosquitto: "$data" 2>/dev/null || true
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence true\npersistence_location %s/\nlog_type error\n' \
	"$port" "$(cd "$data" && pwd)" >"$out/startup-mosquitto.conf"
mosquitto -c "$out/startup-mosquitto.conf" >"$out/startup-mosquitto.log" 2>&1 &
pid=$!
wait_mqtt "$port"
fill mosquitto "$port"
echo "mosquitto: before the stop: RSS $(rss_kib $pid) KiB"
t0=$(now_ms)
kill "$pid"
wait "$pid" 2>/dev/null || true
echo "mosquitto: saved its state and exited in $(($(now_ms) - t0)) ms; mosquitto.db $(du -sk "$data/mosquitto.db" | cut -f1) KiB"
t0=$(now_ms)
mosquitto -c "$out/startup-mosquitto.conf" >"$out/startup-mosquitto.log" 2>&1 &
pid=$!
wait_mqtt "$port"
echo "mosquitto: restarted and answering CONNECT in $(($(now_ms) - t0)) ms, RSS $(rss_kib $pid) KiB"
sleep 5
echo "mosquitto: RSS 5 s later $(rss_kib $pid) KiB"
drain mosquitto "$port"
kill "$pid"
wait "$pid" 2>/dev/null || true

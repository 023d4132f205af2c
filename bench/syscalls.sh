#!/bin/sh
# syscalls.sh: where a broker's CPU goes at a trickle of messages.
#
#   bench/syscalls.sh [seconds]     from anywhere in a clone, as root
#
# Runs the latency scenario of compare.sh (8 publisher/subscriber pairs,
# QoS 1, 1,000 msgs/s each, 64-byte payloads) against gridmq and then
# Mosquitto, and prints per delivered message: the broker's user and system
# CPU (from /proc/PID/stat) and, with perf(1) from Debian's linux-perf, its
# system calls and context switches. At this rate every message is one read
# and one write on each side whatever the broker, so the kernel's share of
# the work sets a floor that no broker's design removes.
set -eu

secs=${1:-6}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
mkdir -p "$out"
go build -o "$out/gridmq" ./cmd/gridmq
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$mosquitto" ] || { echo "syscalls: install Debian's mosquitto first" >&2; exit 1; }
perf=
if command -v perf >/dev/null 2>&1 && perf stat -e context-switches true >/dev/null 2>&1; then
	perf=perf
else
	echo "syscalls: perf is not usable here; printing CPU only" >&2
fi
events=context-switches,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep
tck=$(getconf CLK_TCK)

measure() { # name, then the command that starts the broker on $port
	name=$1
	shift
	"$@" >"$out/syscalls-$name.log" 2>&1 &
	pid=$!
	sleep 0.5
	"$out/gridmq" bench p2p --addr "127.0.0.1:$port" --publishers 8 --qos 1 --rate 1000 \
		--duration "${secs}s" --json >"$out/syscalls-$name.json" &
	bench=$!
	sleep 0.5 # connected and publishing
	cpu0=$(awk '{print $14 + $15, $14}' /proc/$pid/stat)
	window=$((secs - 2))
	if [ -n "$perf" ]; then
		perf stat -x, -e "$events" -p "$pid" -- sleep "$window" 2>"$out/syscalls-$name.perf"
	else
		sleep "$window"
	fi
	cpu1=$(awk '{print $14 + $15, $14}' /proc/$pid/stat)
	wait "$bench"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	# Messages in the measured window: the fixed rate times its length.
	msgs=$((8000 * window))
	echo "$cpu0 $cpu1" | awk -v n="$name" -v m="$msgs" -v t="$tck" '{
		printf "%-10s CPU/msg %5.1f us (user %4.1f, system %4.1f)\n", n, ($3-$1)/t/m*1e6, ($4-$2)/t/m*1e6, (($3-$1)-($4-$2))/t/m*1e6 }'
	if [ -n "$perf" ]; then
		awk -F, -v m="$msgs" '$1 ~ /^[0-9]+$/ && $1 > 0 {
			e = $3; sub(/^syscalls:sys_enter_/, "", e); printf "           %-18s %5.2f per msg\n", e, $1 / m }' \
			"$out/syscalls-$name.perf"
	fi
}

[ -z "$perf" ] || echo "(counting system calls adds to the system time; compare.sh measures CPU alone)"
port=$((21000 + $(od -An -N2 -tu2 /dev/urandom) % 1000))
measure gridmq "$out/gridmq" serve --listen "127.0.0.1:$port" --allow-anonymous --persistence=false
port=$((port + 1))
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$port" >"$out/syscalls-mosquitto.conf"
measure mosquitto "$mosquitto" -c "$out/syscalls-mosquitto.conf"

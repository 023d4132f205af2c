#!/bin/sh
# auth_connect.sh: connection rate with and without password checks.
#
#   bench/auth_connect.sh [runs]     from anywhere in a clone
#
# Starts gridmq twice on a loopback port: open to anonymous clients, then
# with a password file (one user, a $7$ hash at the default 210,000
# PBKDF2 iterations) and anonymous clients refused. Each time it runs
# `gridmq bench conn` (2,000 connections, as fast as they go) RUNS times
# and prints connections per second. Every connection after the first with
# the same credentials is admitted from the verification cache, which is
# what keeps the two rates close; the first pays the full hash.
set -eu

runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
mkdir -p "$out"
go build -o "$out/gridmq" ./cmd/gridmq
pwfile="$out/auth-connect.passwd"
rm -f "$pwfile"
"$out/gridmq" passwd -c -b "$pwfile" meter "meter-secret-1"

rate() { # prints connections/s of one bench run against $addr; extra args follow
	"$out/gridmq" bench conn --addr "$addr" --connections 2000 --duration 1s --json "$@" |
		sed -n 's/.*"connect_per_sec":\([0-9.]*\).*/\1/p'
}

measure() { # label, then serve's flags
	label=$1
	shift
	"$out/gridmq" serve --listen 127.0.0.1:0 "$@" >"$out/auth-connect.log" 2>&1 &
	pid=$!
	addr=
	for _ in $(seq 50); do
		addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$out/auth-connect.log" | head -1)
		[ -n "$addr" ] && break
		sleep 0.1
	done
	results=
	for _ in $(seq "$runs"); do
		if [ "$label" = "password" ]; then
			r=$(GRIDMQ_PASSWORD=meter-secret-1 rate --username meter)
		else
			r=$(rate)
		fi
		results="$results $r"
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "$label:$results"
}

open=$(measure anonymous --allow-anonymous)
auth=$(measure password --password-file "$pwfile" --allow-anonymous=false)
echo "connections/s, $runs runs of 2,000 connections each"
echo "$open"
echo "$auth"
echo "$open" "$auth" | awk '{
	n = 0; a = 0; p = 0
	for (i = 2; i <= NF; i++) { if ($i == "password:") { n = i; break } a += $i }
	for (i = n + 1; i <= NF; i++) p += $i
	k = n - 2
	printf "mean: anonymous %.0f/s, with passwords %.0f/s, ratio %.2f (target: at least 0.5)\n", a / k, p / (NF - n), (p / (NF - n)) / (a / k) }'

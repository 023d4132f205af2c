#!/bin/sh
# compare.sh: measure gridmq against Mosquitto and Mochi MQTT on this machine
# and write docs/benchmarks.md and docs/benchmarks.png.
#
#   bench/compare.sh            from anywhere in a clone; as root, or with sudo
#                               available if mosquitto or gnuplot is missing
#   bench/compare.sh --only "fanin,gridmq"
#                               only the scenarios and brokers named: a
#                               scenario by its whole name, or every scenario
#                               whose name holds the word ("durable" is the
#                               durable fanin alone); the report goes to
#                               bench/out/, not docs/
#
# It installs Debian's mosquitto and gnuplot-nox if they are missing, builds
# gridmq and the Mochi runner (bench/mochi, a nested module so that gridmq never
# depends on Mochi) into bench/out/, then hands over to bench/compare.py, which
# starts one broker at a time and drives it with the same `gridmq bench` build.
# Raw results and broker logs stay in bench/out/ (not committed). It takes about
# five minutes on 2 cores. docs/decisions/0002-benchmark-peers.md explains the
# choice of peers and how fairness is kept.
set -eu

started=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
mkdir -p "$out"

sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi

# Debian packages: one apt-get update, and only if something is missing.
missing=
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
if [ -n "$missing" ]; then
	echo "compare: installing$missing"
	$sudo apt-get update -qq
	# shellcheck disable=SC2086 # $missing is a list of package names
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
PATH=$PATH:/usr/sbin
export PATH

for tool in go python3 mosquitto gnuplot; do
	command -v "$tool" >/dev/null 2>&1 || { echo "compare: $tool not found" >&2; exit 1; }
done

# The commit being built, for the report.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit with uncommitted changes"
fi

echo "compare: building gridmq and the Mochi runner"
go build -o "$out/gridmq" ./cmd/gridmq
(cd bench/mochi && go build -o "../out/mochi" .)

python3 bench/compare.py --out "$out" --started "$started" --commit "$commit" "$@"

report=docs/benchmarks.md
case " $* " in *" --only"*) report=$out/benchmarks.md ;; esac
echo "compare: done in $(( $(date +%s) - started )) s; see $report"

#!/bin/sh
# Set up and run coffre's whole test suite (run as root on Debian 12):
# dependencies, a build, the unit tests and the FUSE integration tests; the
# unit tests again under ASan+UBSan; the fuzz targets' corpus replays.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
status=0

[ -d build ] || meson setup build
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2 || status=1

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined \
	-Db_lundef=false -Dintegration=false -Dbuildtype=debug
meson compile -C build-asan
# A leak fails the test: see tests/unit/sanitizer_options.c.
ASAN_OPTIONS=detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 || status=1

# libFuzzer targets (clang): replay each seed corpus and mutate a little.
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
meson compile -C build-fuzz
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2 || status=1

# One closing line over all runs.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
	build-fuzz/meson-logs/testlog.json <<'PY'
import json, sys
ok = bad = skipped = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): ok += 1
        elif r == "SKIP": skipped += 1
        else: bad += 1
print(f"{ok} passed, {bad} failed, {skipped} skipped")
PY
exit $status

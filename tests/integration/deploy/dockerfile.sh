#!/bin/bash
# docs/deploy/Dockerfile without docker: its runtime stage must install
# every shared library the binaries load. For each binary, every library
# ldd resolves is mapped to its Debian package (dpkg -S); a package the
# binary links directly (ELF NEEDED) must be in the runtime stage's
# apt-get install list, and every other one must come with those packages
# (their Depends, followed recursively in this machine's dpkg database)
# or be libc6, which the base image has. Also: the runtime stage installs
# no -dev package, builds with the project's CMake, and copies exactly
# these binaries from the build stage.
# Skips (77) where dpkg is missing (not a Debian-like system) and for
# sanitizer builds.
# Usage: dockerfile.sh DOCKERFILE BINARY...
set -u
DF=$1
shift
command -v dpkg >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 ||
	{ echo "SKIP: no dpkg"; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The runtime stage: from the last FROM to the end.
runtime=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$DF")
build=$(awk '/^FROM /{n++} n==1' "$DF")
echo "$runtime" | grep -q "^FROM debian:12-slim" || fail "the runtime stage is not debian:12-slim"
echo "$build" | grep -q "^FROM debian:12 AS build" || fail "the build stage is not debian:12"
echo "$build" | grep -q "cmake -S . -B /build -G Ninja" || fail "the build stage does not run CMake"
# Packages of the runtime stage's install commands (backslash continuations joined).
pkgs=$(echo "$runtime" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
	grep -o 'apt-get install [^&]*' | tr ' ' '\n' |
	grep -v -e '^$' -e '^-' -e '^apt-get$' -e '^install$' -e '=' | sort -u)
# Packages purged again in the stage (tools used while building it) do not count.
purged=$(echo "$runtime" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
	grep -o 'apt-get purge [^&]*' | tr ' ' '\n' |
	grep -v -e '^$' -e '^-' -e '^apt-get$' -e '^purge$' | sort -u)
[ -n "$purged" ] && pkgs=$(comm -23 <(echo "$pkgs") <(echo "$purged"))
[ -n "$pkgs" ] || fail "no apt-get install in the runtime stage"
echo "runtime packages: $(echo $pkgs)"
echo "$pkgs" | grep -q -- '-dev$' && fail "a -dev package in the runtime stage: $(echo "$pkgs" | grep -- '-dev$')"

# Closure of the listed packages under Depends/Pre-Depends, from dpkg's database.
closure=$(
	python3 - $pkgs <<'PY'
import re, subprocess, sys
todo, seen = list(sys.argv[1:]), set()
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p],
                       capture_output=True, text=True)
    for alt in r.stdout.split(","):
        for d in alt.split("|")[:1]:
            name = re.sub(r"\(.*?\)", "", d).strip().split(":")[0]
            if name:
                todo.append(name)
print("\n".join(sorted(seen)))
PY
)

# Owner package of every library path (and of its symlink target), in one dpkg call.
paths=$(for bin in "$@"; do ldd "$bin"; done | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u)
# shellcheck disable=SC2046,SC2086 # one argument per path
owners=$(dpkg -S $paths $(for f in $paths; do readlink -f "$f"; done) 2>/dev/null)
pkg_of() {
	local f=$1 p
	p=$(echo "$owners" | grep -m1 ": $f\$")
	[ -n "$p" ] || p=$(echo "$owners" | grep -m1 ": $(readlink -f "$f")\$")
	echo "${p%%:*}"
}

# A sanitizer build links its runtime and that runtime's own libraries;
# the image is built without sanitizers: the release build checks it.
for bin in "$@"; do
	if readelf -d "$bin" | grep -q 'NEEDED.*\[lib\(a\|ub\|t\)san\.so'; then
		echo "SKIP: $bin is a sanitizer build"
		exit 77
	fi
done

for bin in "$@"; do
	name=$(basename "$bin")
	echo "$runtime" | grep -q "COPY --from=build .*/build/bin/$name" ||
		fail "$name is not copied from the build stage"
	needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || fail "$name: no NEEDED entries (not a dynamic binary?)"
	while read -r so path; do
		[ -n "$path" ] || continue
		pkg=$(pkg_of "$path")
		[ -n "$pkg" ] || fail "$name: $so ($path) belongs to no package"
		direct=no
		echo "$needed" | grep -qx "$so" && direct=yes
		if [ "$pkg" = libc6 ]; then
			why="base image"
		elif echo "$pkgs" | grep -qx "$pkg"; then
			why="listed"
		elif [ $direct = no ] && echo "$closure" | grep -qx "$pkg"; then
			why="dependency of a listed package"
		else
			fail "$name needs $so from $pkg: not installed by the runtime stage"
		fi
		echo "ok   $name: $so -> $pkg ($why)"
	done < <(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $1, $3}')
done
echo "PASS"

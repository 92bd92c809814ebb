#!/usr/bin/env bash
# Builds the image's `prebuilt` target with buildah and proves it by running it.
#
#   bash .ci/container.sh [path/to/hirebridge]      (default target/debug/hirebridge, built if missing)
#
# No registry is needed: a Debian bookworm minbase rootfs (debootstrap, from the machine's own
# Debian mirror) with CA certificates and tzdata stands in for distroless/cc-debian12:nonroot,
# with the same nonroot user 65532. (hirebridge refuses to start without CA certificates: its
# HTTP client loads the system's roots even in the sandbox.)
# Its tarball is cached under ${XDG_CACHE_HOME:-~/.cache}/hirebridge/ and the imported image is
# kept as localhost/hirebridge-base:bookworm, so only the first run pays for debootstrap.
#
# Checks, one PASS:/FAIL: line each; the exit status is non-zero if any failed:
#   - the build context that .dockerignore lets through (small, no .git, no target/ but the binary)
#   - `buildah bud --target prebuilt` succeeds offline (--pull=never)
#   - the image config: User 65532, Entrypoint, Cmd, Healthcheck, port 8080, volume, workdir, env
#   - the image's binary: root-owned 0755, without debug sections; the data dir owned by 65532
#   - `serve --sandbox` in the image (buildah run, chroot isolation, the image's own user):
#     /readyz answers, the host's binary and the image's binary pass `healthcheck`, a signed hire
#     is accepted (202), deduplicated, listed by /v1/events and delivered to the simulator
#   - the server runs as 65532:65532 from the image's binary; its database is in the mounted
#     data dir, owned by 65532
#   - SIGTERM stops it, exit 0, within 15 s
#   - nothing in the image's root filesystem changed while it ran
#
# Needs root (debootstrap, buildah storage). Installs buildah, debootstrap and the few tools it
# uses with apt-get when they are missing.
set -euo pipefail

started=$SECONDS
bin_arg=${1:-}
if [[ -n $bin_arg ]]; then
  [[ -f $bin_arg ]] || { echo "container.sh: $bin_arg: no such file" >&2; exit 2; }
  bin_arg=$(realpath "$bin_arg")
fi
cd "$(dirname "$0")/.."

base_image=localhost/hirebridge-base:bookworm
image=localhost/hirebridge:ci
# Where the `prebuilt` target takes the binary from (.dockerignore lets this path through).
staged=target/container/hirebridge
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hirebridge"

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: PASS or FAIL by the command's status.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# Stop at a failure the later checks cannot do without.
fatal() {
  fail "$*"
  finish
}
finish() {
  echo "container.sh: $failures failed, $((SECONDS - started)) s"
  [[ $failures -eq 0 ]] && exit 0
  exit 1
}

# ---- cleanup ---------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hirebridge-container.XXXXXX")
run_pid=""
server_pid=""
ctr=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  set +e
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
  fi
  if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
    kill -KILL "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
  fi
  if [[ -n $ctr ]]; then
    buildah umount "$ctr" >/dev/null 2>&1
    buildah rm "$ctr" >/dev/null 2>&1
  fi
  rm -f "$staged"
  rmdir target/container 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A command that was not a check failed: say where, then stop (set -e).
trap 'echo "FAIL: unexpected error (status $?) at line $LINENO: $BASH_COMMAND"; echo "container.sh: stopped, $((SECONDS - started)) s"' ERR

# ---- 1. tools --------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || { echo "container.sh: must run as root (debootstrap, buildah storage)" >&2; exit 2; }
declare -A package_of=(
  [buildah]=buildah [debootstrap]=debootstrap [curl]=curl [openssl]=openssl [jq]=jq
  [ss]=iproute2 [ps]=procps [strip]=binutils [readelf]=binutils
)
missing=()
for cmd in "${!package_of[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${package_of[$cmd]}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "container.sh: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

if [[ -n $bin_arg ]]; then
  bin=$bin_arg
else
  bin=$PWD/target/debug/hirebridge
  if [[ ! -x $bin ]]; then
    echo "container.sh: building $bin" >&2
    cargo build --locked >&2
  fi
fi
[[ -x $bin ]] || fatal "binary $bin is not executable"

# ---- 2. the stand-in for distroless ----------------------------------------------------------
# The first bookworm "deb" source among the machine's apt sources (one-line and deb822 files).
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    uri=$(awk '$1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == "bookworm") { print $i; exit }
      }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" } {
        t = ""; u = ""; s = ""
        for (j = 1; j <= NF; j++) {
          if ($j ~ /^Types:/) t = $j
          if ($j ~ /^URIs:/) u = $j
          if ($j ~ /^Suites:/) s = $j
        }
        if (t ~ /[: \t]deb([ \t]|$)/ && (s " ") ~ /[: \t]bookworm[ \t]/) {
          sub(/^URIs:[ \t]*/, "", u); split(u, a, /[ \t]+/); print a[1]; exit
        }
      }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}
mirror=${HIREBRIDGE_DEBIAN_MIRROR:-$(debian_mirror)}
# The recipe below is part of the key: changing it (or the mirror) builds a new base.
base_recipe="bookworm minbase+ca-certificates,tzdata $mirror nonroot=65532 trimmed v1"
base_key=$(printf '%s' "$base_recipe" | sha256sum | cut -c1-16)
tarball="$cache/base-bookworm-$base_key.tar"

build_rootfs() {
  local rootfs="$cache/rootfs.$$"
  mkdir -p "$cache"
  rm -rf "$rootfs"
  echo "container.sh: debootstrap bookworm from $mirror (once; cached in $tarball)" >&2
  if ! debootstrap --variant=minbase --include=ca-certificates,tzdata bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 20 "$tmp/debootstrap.log" >&2
    rm -rf "$rootfs"
    return 1
  fi
  # What distroless has not either: documentation, translations, apt's caches and lists, and the
  # build machine's own resolv.conf and hostname that debootstrap copied in.
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
  # distroless's unprivileged account.
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >>"$rootfs/etc/passwd"
  echo 'nonroot:x:65532:' >>"$rootfs/etc/group"
  install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"
  tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  # Tarballs of earlier recipes or mirrors.
  find "$cache" -maxdepth 1 -name 'base-bookworm-*.tar' ! -name "${tarball##*/}" -delete
}

base_label=$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.hirebridge.ci.base"}}' \
  "$base_image" 2>/dev/null || true)
if [[ $base_label == "$base_key" ]]; then
  pass "base image $base_image (cached)"
else
  [[ -f $tarball ]] || build_rootfs || fatal "debootstrap bookworm from $mirror"
  old_base=$(buildah inspect --type image --format '{{.FromImageID}}' "$base_image" 2>/dev/null || true)
  bctr=$(buildah from --quiet scratch)
  bmnt=$(buildah mount "$bctr")
  tar -C "$bmnt" --numeric-owner -xpf "$tarball"
  buildah umount "$bctr" >/dev/null
  # The parts of distroless's image config that matter here.
  buildah config --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.hirebridge.ci.base="$base_key" "$bctr"
  buildah commit --quiet --rm "$bctr" "$base_image" >/dev/null
  # The base of an older recipe, now untagged (kept while an image still uses it).
  [[ -z $old_base ]] || buildah rmi "$old_base" >/dev/null 2>&1 || true
  pass "base image $base_image (imported from $tarball)"
fi

# ---- 3. the binary, where the prebuilt target takes it -----------------------------------------
mkdir -p "$(dirname "$staged")"
strip --strip-debug -o "$staged" "$bin"
chmod 0755 "$staged"

# What .dockerignore lets into the build context: copy it all into a throwaway image and look.
cat >"$tmp/Containerfile.context" <<EOF
FROM $base_image
COPY . /context
EOF
if buildah bud --quiet --isolation chroot --pull=never -f "$tmp/Containerfile.context" \
  -t localhost/hirebridge-context:ci . >"$tmp/context.log" 2>&1; then
  cctr=$(buildah from --quiet localhost/hirebridge-context:ci)
  cmnt=$(buildah mount "$cctr")
  context_files=$(find "$cmnt/context" -type f | wc -l)
  context_kb=$(du -sk "$cmnt/context" | cut -f1)
  (cd "$cmnt/context" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) >"$tmp/context.top"
  (cd "$cmnt/context" && find target -type f 2>/dev/null | sort) >"$tmp/context.target"
  buildah umount "$cctr" >/dev/null
  buildah rm "$cctr" >/dev/null
  buildah rmi localhost/hirebridge-context:ci >/dev/null
  staged_kb=$(($(stat -c %s "$staged") / 1024))
  if ! grep -qvxE 'Cargo\.toml|Cargo\.lock|Dockerfile|\.dockerignore|benches|src|migrations|examples|target' \
    "$tmp/context.top" && [[ $(cat "$tmp/context.target") == "target/container/hirebridge" ]]; then
    pass "build context: $context_files files, $((context_kb / 1024)) MiB ($((staged_kb / 1024)) MiB of it the binary); top level: $(paste -sd' ' "$tmp/context.top")"
  else
    fail "build context lets through more than it should: $(paste -sd' ' "$tmp/context.top"); target/: $(paste -sd' ' "$tmp/context.target")"
  fi
else
  cat "$tmp/context.log" >&2
  fail "build context probe"
fi

# ---- 4. build ---------------------------------------------------------------------------------
old_image=$(buildah inspect --type image --format '{{.FromImageID}}' "$image" 2>/dev/null || true)
# RUST_IMAGE only names the build stage, which `prebuilt` never uses; pointing it at the local
# base keeps a buildah that resolves every FROM away from the registry.
build_started=$SECONDS
if buildah bud --isolation chroot --format docker --pull=never --target prebuilt \
  --build-arg RUNTIME_IMAGE="$base_image" --build-arg RUST_IMAGE="$base_image" \
  --build-arg BINARY="$staged" -t "$image" . >"$tmp/build.log" 2>&1; then
  pass "buildah bud --target prebuilt ($((SECONDS - build_started)) s)"
else
  tail -n 30 "$tmp/build.log" >&2
  fatal "buildah bud --target prebuilt"
fi
new_image=$(buildah inspect --type image --format '{{.FromImageID}}' "$image")
if [[ -n $old_image && $old_image != "$new_image" ]]; then
  buildah rmi "$old_image" >/dev/null 2>&1 || true
fi

# ---- 5. the image ----------------------------------------------------------------------------
buildah inspect --type image "$image" | jq '.Docker.config' >"$tmp/config.json"
cfg() { jq -c "$1" "$tmp/config.json"; }
user=$(cfg '.User' | tr -d '"')
check "User is $user" test "$user" = 65532:65532 -o "$user" = 65532 -o "$user" = nonroot
check "Entrypoint is $(cfg .Entrypoint)" test "$(cfg .Entrypoint)" = '["/usr/local/bin/hirebridge"]'
check "Cmd is $(cfg .Cmd)" test "$(cfg .Cmd)" = '["serve"]'
check "Healthcheck runs $(cfg .Healthcheck.Test)" \
  test "$(cfg .Healthcheck.Test)" = '["CMD","/usr/local/bin/hirebridge","healthcheck"]'
check "ExposedPorts $(cfg '.ExposedPorts | keys')" test "$(cfg '.ExposedPorts | keys')" = '["8080/tcp"]'
check "Volumes $(cfg '.Volumes | keys')" test "$(cfg '.Volumes | keys')" = '["/var/lib/hirebridge"]'
check "WorkingDir $(cfg .WorkingDir)" test "$(cfg .WorkingDir)" = '"/var/lib/hirebridge"'
check "Env sets HIREBRIDGE__DATABASE_URL to the volume" \
  jq -e '.Env | index("HIREBRIDGE__DATABASE_URL=sqlite:///var/lib/hirebridge/hirebridge.db")' "$tmp/config.json" >/dev/null

# Uncompressed layer sizes from the manifests; the layers past the base's are the Dockerfile's.
layer_sizes() { buildah inspect --type image "$1" | jq -r '.Manifest | fromjson | .layers[].size'; }
base_layers=$(layer_sizes "$base_image" | wc -l)
image_bytes=$(layer_sizes "$image" | awk '{ s += $1 } END { print s }')
added_bytes=$(layer_sizes "$image" | awk -v n="$base_layers" 'NR > n { s += $1 } END { print s + 0 }')

ctr=$(buildah from --quiet --pull=never "$image")
mnt=$(buildah mount "$ctr")
image_bin="$mnt/usr/local/bin/hirebridge"
bin_bytes=$(stat -c %s "$image_bin")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
gz_bytes=$(gzip -1 -c "$image_bin" | wc -c)
echo "INFO: image $image $(mib "$image_bytes"), of which $(mib "$added_bytes") is the Dockerfile's layers on the stand-in base"
echo "INFO: binary in the image $(mib "$bin_bytes") ($(mib "$gz_bytes") gzipped); the host's copy $(mib "$(stat -c %s "$bin")")"
check "binary in the image is root:root 0755 ($(stat -c '%u:%g %a' "$image_bin"))" \
  test "$(stat -c '%u:%g %a' "$image_bin")" = "0:0 755"
# (.debug_gdb_scripts, a few bytes that name gdb's pretty printers, is loaded, not debug info.)
check "binary in the image carries no DWARF debug info" \
  bash -c "! readelf -SW '$image_bin' | grep -qE ' \.z?debug_(info|line|str|abbrev|aranges|ranges|rnglists|loc|loclists|frame|types) '"
check "data dir in the image is owned by 65532:65532 and empty ($(stat -c '%u:%g %a' "$mnt/var/lib/hirebridge"))" \
  test "$(stat -c '%u:%g' "$mnt/var/lib/hirebridge")" = 65532:65532 -a -z "$(ls -A "$mnt/var/lib/hirebridge")"

# ---- 6. run it -------------------------------------------------------------------------------
# Every file of the root filesystem: path, type, mode, owner, size, mtime.
snapshot() { (cd "$mnt" && find . -xdev -printf '%p\t%y\t%m\t%U:%G\t%s\t%T@\n' | LC_ALL=C sort); }
snapshot >"$tmp/rootfs.pristine"
# buildah run bind-mounts /etc/hosts, /etc/hostname and /etc/resolv.conf, leaving empty files
# as their mount points the first time. A first, short run puts them there, so that the
# comparison around `serve` sees only what hirebridge itself does.
version=$({ buildah run --isolation chroot "$ctr" -- /usr/local/bin/hirebridge --version 2>&1 || true; } | head -n1)
check "the image's binary runs: $version" test "${version%% *}" = hirebridge
snapshot >"$tmp/rootfs.before"
runtime_made=$({ diff "$tmp/rootfs.pristine" "$tmp/rootfs.before" || true; } | awk -F'\t' '/^> / { print substr($1, 5) }' |
  paste -sd' ')
echo "INFO: buildah run's own mount points and touched directories: ${runtime_made:-none}"

data="$tmp/data"
install -d -m 0750 -o 65532 -g 65532 "$data"
port=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 40000))
  if [[ -z $(ss -Htln "sport = :$candidate") ]]; then port=$candidate; break; fi
done
[[ -n $port ]] || fatal "no free loopback port"
base_url="http://127.0.0.1:$port"

# chroot isolation shares the host's network namespace: the port is reachable from here. No
# --user: the image's own USER must be what makes it run as 65532.
buildah run --isolation chroot -v "$data:/var/lib/hirebridge" -e "HIREBRIDGE__LISTEN=127.0.0.1:$port" \
  "$ctr" -- /usr/local/bin/hirebridge serve --sandbox >"$tmp/serve.log" 2>&1 &
run_pid=$!
run_started=$SECONDS

ready=""
for _ in $(seq 600); do
  if curl -fsS -o /dev/null "$base_url/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $ready ]]; then
  tail -n 30 "$tmp/serve.log" >&2
  fatal "GET /readyz never answered 200 within 60 s"
fi
pass "GET /readyz answered 200, $((SECONDS - run_started)) s after the start"

server_pid=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
[[ -n $server_pid ]] || fatal "no process listens on 127.0.0.1:$port"
# shellcheck disable=SC2317  # called through check
descends_from_run() {
  local p=$server_pid
  while [[ $p -gt 1 ]]; do
    [[ $p -eq $run_pid ]] && return 0
    p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status")
  done
  return 1
}
check "the listener (pid $server_pid) is a child of buildah run" descends_from_run
check "the listener runs the image's binary, not the host's" cmp -s "/proc/$server_pid/exe" "$image_bin"
ids=$(ps -o uid=,gid= -p "$server_pid" | awk '{ print $1 ":" $2 }')
check "the listener runs as uid:gid $ids" test "$ids" = 65532:65532

check "host binary: hirebridge healthcheck $base_url/healthz" \
  "$bin" healthcheck "$base_url/healthz"
check "image binary (the HEALTHCHECK command, in the container): hirebridge healthcheck $base_url/healthz" \
  buildah run --isolation chroot "$ctr" -- /usr/local/bin/hirebridge healthcheck "$base_url/healthz"

# A hire, signed as the sandbox's demo source expects (README, "Try it").
body=$(jq -cn --arg id "evt_ci_$$" '{
  event_id: $id, type: "hire.created", occurred_at: "2026-11-20T10:00:00Z",
  person: {first_name: "Ada", last_name: "Lovelace", email: "ada@example.com", phone: "+14155550100"},
  job: {title: "Forklift Driver", department: "Warehouse", location: "Austin, TX",
        employment_type: "full_time", start_date: "2026-12-01"}}')
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac demo-secret | sed 's/^.* //')
post_hire() {
  curl -sS -o "$tmp/post.json" -w '%{http_code}' -X POST "$base_url/v1/webhooks/demo" \
    -H 'Content-Type: application/json' -H "X-Signature: $sig" -d "$body"
}
code=$(post_hire || true)
event_id=$(jq -r '.event_id // empty' "$tmp/post.json" 2>/dev/null || true)
check "POST /v1/webhooks/demo: $code $(cat "$tmp/post.json" 2>/dev/null)" \
  test "$code" = 202 -a "$(jq -r .status "$tmp/post.json" 2>/dev/null)" = accepted -a -n "$event_id"
code=$(post_hire || true)
check "the same hire again: $code $(cat "$tmp/post.json" 2>/dev/null)" \
  test "$code" = 200 -a "$(jq -r .status "$tmp/post.json" 2>/dev/null)" = duplicate \
  -a "$(jq -r .event_id "$tmp/post.json" 2>/dev/null)" = "$event_id"

# The admin API's token: HS256 with the sandbox's demo-admin-secret, valid for an hour.
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
jwt_body=$(printf '{"sub":"container-check","exp":%d}' $(($(date +%s) + 3600)) | b64)
jwt_sig=$(printf '%s.%s' "$jwt_head" "$jwt_body" | openssl dgst -sha256 -hmac demo-admin-secret -binary | b64)
auth="Authorization: Bearer $jwt_head.$jwt_body.$jwt_sig"
listed=$(curl -fsS "$base_url/v1/events?limit=10" -H "$auth" |
  jq -r --arg id "$event_id" '[.events[] | select(.event_id == $id)] | length' 2>/dev/null || echo 0)
check "GET /v1/events lists $event_id" test "$listed" = 1
status=""
for _ in $(seq 300); do
  status=$(curl -fsS "$base_url/v1/events/$event_id" -H "$auth" | jq -r .status 2>/dev/null || true)
  [[ $status == "done" ]] && break
  sleep 0.1
done
ops=$(curl -fsS "$base_url/v1/events/$event_id" -H "$auth" |
  jq -r '[.operations[] | "\(.kind)=\(.status)"] | join(" ")' 2>/dev/null || true)
check "the hire was delivered to the simulator: status $status ($ops)" test "$status" = "done"

db_owner=$(stat -c '%u:%g' "$data/hirebridge.db" 2>/dev/null || echo missing)
check "the data dir holds hirebridge.db owned by $db_owner" test "$db_owner" = 65532:65532
foreign=$(find "$data" ! -user 65532 -printf '%P ' | sed 's/ $//')
check "everything in the data dir belongs to 65532${foreign:+ (not: $foreign)}" test -z "$foreign"

kill -TERM "$server_pid"
term_sent=$SECONDS
stopped=""
for _ in $(seq 150); do
  kill -0 "$run_pid" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
if [[ -n $stopped ]]; then
  rc=0
  wait "$run_pid" || rc=$?
  run_pid=""
  check "SIGTERM: exited with status $rc within $((SECONDS - term_sent)) s" test "$rc" = 0
  check "SIGTERM: the log says it stopped cleanly" grep -q '"hirebridge stopped"' "$tmp/serve.log"
else
  fail "SIGTERM: still running after 15 s"
fi

snapshot >"$tmp/rootfs.after"
# Every buildah run adds and removes a mount point in /run, which bumps that directory's mtime;
# that one timestamp is left out. An entry added to or changed in /run still shows.
without_run_mtime() { sed -E 's#^(\./run\td\t[^\t]*\t[^\t]*\t[^\t]*)\t.*$#\1\t-#' "$1"; }
if diff -u <(without_run_mtime "$tmp/rootfs.before") <(without_run_mtime "$tmp/rootfs.after") \
  >"$tmp/rootfs.diff"; then
  pass "serving changed nothing in the image's root filesystem ($(wc -l <"$tmp/rootfs.before") entries compared: path, type, mode, owner, size, mtime)"
else
  fail "serving changed the image's root filesystem:"
  grep -E '^[-+]\./' "$tmp/rootfs.diff" | sed 's/^/  /'
fi

finish

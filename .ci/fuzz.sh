#!/usr/bin/env bash
# Fuzz every vendor adapter for a bounded time: its webhook decoding (signature, parser,
# mapping) and, for the kinds that fetch the person, the mapping of the vendor API's answer.
# Seeds are the documented examples in examples/vendors. A crash fails the run and leaves its
# input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-15}
# Instrumented builds of every dependency are slow: keep them between runs, outside the clone.
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/hirebridge/fuzz-target}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: cargo fuzz needs a nightly toolchain and none is installed" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

cd fuzz
cargo +nightly fuzz build --target-dir "$target_dir"
for target in $(cargo +nightly fuzz list); do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  for seed in ../examples/vendors/"$target"*; do
    [ -e "$seed" ] && cp "$seed" "$corpus/"
  done
  echo "fuzz: $target for ${seconds}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
  log="artifacts/$target.log"
  mkdir -p artifacts
  if ! cargo +nightly fuzz run --target-dir "$target_dir" "$target" "$corpus" -- -max_total_time="$seconds" -max_len=65536 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target failed; its input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || tail -n 3 "$log"
done

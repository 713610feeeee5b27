#!/usr/bin/env bash
# Builds the release binary for one target and packs it as a release asset in dist/:
# marketplace-publish-TARGET.tar.gz, or .zip for Windows, with the binary at the archive's root (where
# install.sh looks). The release workflow publishes these; the self-test installs them through
# install.sh on each runner.
#
# musl targets are linked with cargo zigbuild (on PATH). The MSVC binary links the C runtime
# statically (+crt-static), so that it runs where the Visual C++ runtime (VCRUNTIME140.dll) is not
# installed; a Windows binary that still imports a runtime DLL Windows does not ship is refused.
# Needs python3 (or python) for the zip and that check.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${1:?usage: release-build.sh TARGET}
BIN=marketplace-publish
PYTHON=python3
"$PYTHON" -c '' 2>/dev/null || PYTHON=python

case $TARGET in
  *-linux-musl) cargo zigbuild --release --locked --target "$TARGET" ;;
  *-windows-msvc)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
      cargo build --release --locked --target "$TARGET"
    ;;
  *) cargo build --release --locked --target "$TARGET" ;;
esac

out=target/$TARGET/release
mkdir -p dist
if [[ $TARGET == *-windows-* ]]; then
  # The DLLs the .exe imports, read from its PE import table.
  imports=$("$PYTHON" - "$out/$BIN.exe" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
pe = struct.unpack_from("<I", data, 0x3C)[0]
assert data[pe:pe + 4] == b"PE\0\0", "not a PE file"
sections, optional_size = struct.unpack_from("<H", data, pe + 6)[0], struct.unpack_from("<H", data, pe + 20)[0]
optional = pe + 24
pe32_plus = struct.unpack_from("<H", data, optional)[0] == 0x20B
import_rva = struct.unpack_from("<I", data, optional + (112 if pe32_plus else 96) + 8)[0]

def offset(rva):
    for i in range(sections):
        size, address, raw_size, raw = struct.unpack_from("<IIII", data, optional + optional_size + 40 * i + 8)
        if address <= rva < address + max(size, raw_size):
            return rva - address + raw
    raise SystemExit(f"RVA {rva:#x} is in no section")

entry = offset(import_rva)
while True:
    lookup, _, _, name, thunks = struct.unpack_from("<5I", data, entry)
    if not (lookup or name or thunks):
        break
    start = offset(name)
    print(data[start:data.index(b"\0", start)].decode())
    entry += 20
PY
  )
  echo "$BIN.exe imports: $(echo "$imports" | paste -sd ' ' -)"
  runtime=$(grep -iE '^(vcruntime|msvcp|ucrtbase|api-ms-win-crt-|libgcc|libstdc|libwinpthread)' <<<"$imports" || true)
  if [[ -n $runtime ]]; then
    echo "::error::$BIN.exe needs runtime DLLs that Windows does not ship: $(echo "$runtime" | paste -sd ' ' -)"
    exit 1
  fi
  rm -f "dist/$BIN-$TARGET.zip"
  (cd "$out" && "$PYTHON" -m zipfile -c "../../../dist/$BIN-$TARGET.zip" "$BIN.exe")
else
  tar -czf "dist/$BIN-$TARGET.tar.gz" -C "$out" "$BIN"
fi
ls -l dist/"$BIN-$TARGET".*

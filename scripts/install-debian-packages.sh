#!/usr/bin/env bash
# Installs the Debian packages this project needs, only those that are missing (idempotent;
# uses sudo when not root). Run by `cargo xtask setup` (hence by `cargo xtask demo` and
# `cargo xtask test`) and by `.ci/run`.
#
# Opt-in extras, for the Windows cross-build only (`cargo xtask setup --windows`):
# --windows  gcc-mingw-w64-x86-64: the linker of the x86_64-pc-windows-gnu target (and the C
#            compiler of the wine test's stand-in DLL);
# --wine     wine, wine64 (8.0): run the Windows build's tests (`cargo xtask test --windows`,
#            and CI); about 1.2 GB installed.
# --synth    the sources of the v2 training-data generator (models/danna_sep_models/synth/
#            sources.py): opl3-soundfont, csound-soundfont, avldrums.lv2-soundfont and
#            hydrogen-drumkits (270 MB to download, 400 MB installed). Installed by
#            `cargo xtask test` (its Python tests render v2 songs), `cargo xtask setup --synth`
#            and `cargo xtask models synth`. Never the reserved evaluation soundfonts
#            (musescore-general-soundfont*, timgm6mb-soundfont).
set -euo pipefail

extra=()
for arg in "$@"; do
    case "$arg" in
        --windows) extra+=(gcc-mingw-w64-x86-64) ;;
        --wine) extra+=(wine wine64) ;;
        --synth) extra+=(opl3-soundfont csound-soundfont avldrums.lv2-soundfont hydrogen-drumkits) ;;
        *) echo "unknown argument: $arg (expected --windows, --wine or --synth)" >&2; exit 2 ;;
    esac
done

# Debian packages the build needs:
# - build-essential: `cc` links every Rust binary and the plugin;
# - pkg-config and the X11/XCB/GL development packages: the editor stack (nice-plug-egui,
#   baseview, x11-dl, glow) asks pkg-config where these libraries live at build time and
#   loads them at run time; the -dev packages provide both the .pc files and the libraries;
# - libasound2-dev, libjack-jackd2-dev: the optional `standalone` feature (nice-plug's
#   ALSA/JACK backends) finds them with pkg-config;
# - python3-venv, python3-pip: the Python toolchain under models/ and the ONNX Runtime wheel;
# - fluidsynth, fluid-soundfont-gm, espeak-ng: the synthetic training-data generator
#   (models/danna_sep_models/synth) and its tests;
# - sox, lame: tests/cli.rs makes its FLAC, Ogg Vorbis and MP3 test inputs with them;
# - ardour: tests/ardour.rs exports a session with the VST3 through Ardour 7 headless
#   (ardour7-lua, ardour7-export, ardour-vst3-scanner; with its dependencies, without
#   recommends, 50 MB to download and 207 MB installed on a CI image).
packages=(
    build-essential pkg-config ca-certificates
    python3-venv python3-pip
    libx11-dev libx11-xcb-dev libxcursor-dev libxrandr-dev libgl-dev
    libxcb1-dev libxcb-icccm4-dev libxcb-dri2-0-dev
    libasound2-dev libjack-jackd2-dev
    fluidsynth fluid-soundfont-gm espeak-ng
    sox lame
    ardour
    ${extra[@]+"${extra[@]}"}
)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi


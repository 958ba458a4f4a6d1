#!/usr/bin/env bash
# The machine-level tools `make run` and `make test` need, checked before anything is built.
#
#   deploy/local/prereqs.sh run    Python 3.11+ with venv, Java 17+, Maven (the broker), make
#   deploy/local/prereqs.sh test   the above, plus Go (builds the pinned helm and kubeconform), promtool and
#                                  prometheus (Debian `prometheus`), Alertmanager, Chromium and CJK fonts
#
# Each check looks at the local machine only, so when everything is present nothing touches the network and
# the script takes a few milliseconds. When a Debian package is missing and we are root (or have passwordless
# sudo) on a machine with apt-get, it installs exactly the missing packages, once, saying which; otherwise it
# stops with one line naming the command to run. Overrides for tests: PYTHON (interpreter to check).
set -u
target=${1:-run}
case $target in run | test) ;; *)
  echo "usage: $0 run|test" >&2
  exit 2
  ;;
esac

have() { command -v "$1" >/dev/null 2>&1; }

# The JDK's `release` file states its version without starting a JVM; fall back to `java -version`.
java_ok() {
  have java || return 1
  local bin home version
  bin=$(readlink -f "$(command -v java)")
  home=${bin%/bin/java}
  if [[ -r $home/release ]]; then
    version=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
  fi
  if [[ -z ${version:-} ]]; then
    version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  fi
  [[ -n $version && $version -ge 17 ]]
}

python_ok() { "${PYTHON:-python3}" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

# helm v3.22 and kubeconform v0.8 are built with `go install`; they need a Go of 1.24 or later.
go_ok() {
  have go || return 1
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%[!0-9]*}
  [[ $major -gt 1 || ($major -eq 1 && ${minor:-0} -ge 24) ]]
}

cjk_fonts_ok() {
  have fc-list && [[ -n $(fc-list :lang=ko family 2>/dev/null) ]]
}

missing_pkgs=()
missing_other=()
need() { # check, Debian package (or "-"), what it is for
  if ! "$1"; then
    if [[ $2 == - ]]; then missing_other+=("$3"); else missing_pkgs+=("$2"); fi
  fi
}
mvn_ok() { have mvn; }
promtool_ok() { have promtool && have prometheus; }
alertmanager_ok() { have prometheus-alertmanager || have alertmanager; }
chromium_ok() { have chromium || have chromium-browser; }

check() {
  missing_pkgs=()
  missing_other=()
  need python_ok python3-venv "Python 3.11+ with venv"
  need java_ok openjdk-17-jre-headless "Java 17+"
  need mvn_ok maven "Maven"
  if [[ $target == test ]]; then
    need go_ok - "Go 1.24+ (builds the pinned helm and kubeconform; Debian's golang-go is older: install a current Go toolchain and put its bin directory on PATH)"
    need promtool_ok prometheus "promtool and prometheus"
    need alertmanager_ok prometheus-alertmanager "Alertmanager"
    need chromium_ok chromium "Chromium"
    need cjk_fonts_ok fonts-noto-cjk "CJK fonts"
  fi
}

check
[[ ${#missing_pkgs[@]} -eq 0 && ${#missing_other[@]} -eq 0 ]] && exit 0

if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
  sudo=""
  can_install=0
  if have apt-get; then
    if [[ $(id -u) -eq 0 ]]; then
      can_install=1
    elif have sudo && sudo -n true >/dev/null 2>&1; then
      sudo="sudo -n"
      can_install=1
    fi
  fi
  if [[ $can_install -eq 0 ]]; then
    if have apt-get; then
      echo "engage: missing for make $target: ${missing_pkgs[*]}; as root run: apt-get install -y ${missing_pkgs[*]}" >&2
    else
      echo "engage: missing for make $target (Debian package names): ${missing_pkgs[*]}; install them with your package manager" >&2
    fi
    for other in "${missing_other[@]}"; do echo "engage: also missing: $other" >&2; done
    exit 1
  fi
  echo "engage: installing missing Debian packages for make $target: ${missing_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing_pkgs[@]}"; } >&2; then
    echo "engage: apt-get install ${missing_pkgs[*]} failed (see above)" >&2
    exit 1
  fi
  hash -r
  check
  if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
    echo "engage: still missing after installing: ${missing_pkgs[*]}" >&2
    exit 1
  fi
fi
if [[ ${#missing_other[@]} -gt 0 ]]; then
  for other in "${missing_other[@]}"; do echo "engage: missing for make $target: $other" >&2; done
  exit 1
fi
exit 0

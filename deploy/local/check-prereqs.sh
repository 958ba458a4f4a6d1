#!/usr/bin/env bash
# Checks the tools a fresh machine needs before `make` builds anything, with a clear message for each.
set -u
missing=0
need() { # name, test command, hint
  if ! eval "$2" >/dev/null 2>&1; then
    echo "engage: missing prerequisite: $1 — $3" >&2
    missing=1
  fi
}
need "Python >= 3.11" "${PYTHON:-python3} -c 'import sys; sys.exit(sys.version_info < (3, 11))'" \
  "install Python 3.11+ (e.g. apt-get install python3) or set PYTHON=/path/to/python3.11"
need "python venv module" "${PYTHON:-python3} -c 'import venv, ensurepip'" "apt-get install python3-venv"
need "Java >= 17" "java -version 2>&1 | awk -F'\"' '/version/ {split(\$2, v, \".\"); exit !(v[1] >= 17)}'" \
  "install a JDK 17+ (e.g. apt-get install openjdk-17-jre-headless); Kafka runs on it"
need "Maven" "mvn -v" "apt-get install maven (resolves the Kafka broker jars from Maven Central)"
need "make" "make -v" "apt-get install make"
exit $missing
